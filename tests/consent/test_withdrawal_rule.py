"""When a recorded withdrawal overrides a consent, as a table: when the consent was given (its
dateTime, else the start of its period), when the member withdrew, and what we decide."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from identity.consent.evaluate import evaluate_consent
from identity.consent.withdrawal import honour_withdrawal
from tests.consent.factories import NEW_PLAN, hrex_consent

TODAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
WITHDRAWN = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)

# (case, the consent, the withdrawal) -> honoured?
CASES: list[tuple[str, dict[str, Any], datetime | None, bool]] = [
    ("no withdrawal", hrex_consent(), None, True),
    ("period began before the withdrawal, no dateTime", hrex_consent(), WITHDRAWN, False),
    (
        "given after the withdrawal (dateTime)",
        hrex_consent(dateTime="2026-06-12T08:00:00Z"),
        WITHDRAWN,
        True,
    ),
    (
        "given the same day, a minute after",
        hrex_consent(dateTime="2026-06-10T09:31:00+00:00"),
        WITHDRAWN,
        True,
    ),
    (
        "given the same day, before (another zone)",
        hrex_consent(dateTime="2026-06-10T05:00:00-04:00"),  # 09:00 UTC
        WITHDRAWN,
        False,
    ),
    ("a date alone on the withdrawal's day", hrex_consent(dateTime="2026-06-10"), WITHDRAWN, False),
    ("a date alone, the day after", hrex_consent(dateTime="2026-06-11"), WITHDRAWN, True),
    (
        "no dateTime, a period starting after the withdrawal",
        hrex_consent(provision__period={"start": "2026-06-11", "end": "2026-12-31"}),
        WITHDRAWN,
        True,
    ),
    (
        "given in the future: not believed",
        hrex_consent(dateTime="2026-06-16T00:00:00Z"),
        WITHDRAWN,
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "consent", "withdrawn", "honoured"), CASES, ids=[c[0] for c in CASES]
)
def test_a_withdrawal_overrides_older_consents(
    case: str, consent: dict[str, Any], withdrawn: datetime | None, honoured: bool
) -> None:
    evaluated = evaluate_consent(consent, recipient=NEW_PLAN, today=TODAY, required=True)
    assert evaluated.ok
    decided = honour_withdrawal(evaluated, withdrawn, now=NOW)
    assert decided.ok is honoured, case
    if not honoured:
        assert decided.reason == "withdrawn"
        assert decided.detail is not None
        assert "2026" not in decided.detail  # no value quoted


def test_a_consent_already_refused_keeps_its_reason() -> None:
    expired = evaluate_consent(
        hrex_consent(provision__period={"start": "2025-01-01", "end": "2025-12-31"}),
        recipient=NEW_PLAN,
        today=TODAY,
        required=True,
    )
    assert honour_withdrawal(expired, WITHDRAWN, now=NOW).reason == "expired"


def test_a_naive_withdrawal_time_is_read_as_utc() -> None:
    """SQLite gives the time back without its zone."""
    consent = evaluate_consent(
        hrex_consent(dateTime="2026-06-10T09:31:00Z"),
        recipient=NEW_PLAN,
        today=TODAY,
        required=True,
    )
    assert honour_withdrawal(consent, WITHDRAWN.replace(tzinfo=None), now=NOW).ok
