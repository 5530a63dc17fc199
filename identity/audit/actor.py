"""Who an audit event is about: the calling client (or the signed-in person), its tenant and the
request it made."""

from __future__ import annotations

from dataclasses import dataclass

# Denials of requests whose token could not be validated have no tenant; they are chained here.
UNAUTHENTICATED_TENANT = "-"


@dataclass(frozen=True, slots=True)
class Actor:
    tenant: str
    client_id: str | None
    request_id: str | None
    # A signed-in person's user name (a steward at the workbench); None for an OAuth client.
    person: str | None = None
