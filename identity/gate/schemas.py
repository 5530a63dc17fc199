"""What a gate reports about one retrieval it allowed or refused. Codes and ids only: no member
data, no query, no path (a path names a patient)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Interaction = Literal["read", "search", "everything", "other"]


class GateEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interaction: Interaction
    allowed: bool
    http_status: int = Field(ge=100, le=599, description="What the gate answered")
    reason: str = Field(
        pattern=r"^[a-z][a-z-]{0,47}$",
        description="The gate's decision code: allowed, wrong-client, outside-compartment…",
    )
    token_id: str | None = Field(
        default=None,
        max_length=64,
        description="The match token's id (introspection's jti); only a token the reporting "
        "client introspected itself may be named (403 otherwise)",
    )
    client_id: str | None = Field(
        default=None,
        max_length=64,
        description="The requesting client the gate authenticated (from that client's access "
        "token; none without one). Recorded as what the event is about: the event's own client "
        "is always the reporting gate, from the reporter's token",
    )
