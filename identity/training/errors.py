"""Why training stopped without writing a policy."""

from __future__ import annotations

from identity.errors import IdentityError


class TrainingRefused(IdentityError):
    """Training ran into something it must not paper over; `reasons` lists every one."""

    status = 422
    code = "training-refused"
    title = "Training refused"

    def __init__(self, summary: str, reasons: list[str] | None = None) -> None:
        super().__init__(summary)
        self.reasons = reasons or []
