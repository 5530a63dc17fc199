"""A recorded withdrawal overrides any consent given before it. Pure: the single and the batch
$member-match apply this same function to what they read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from identity.consent.evaluate import ConsentDecision, ConsentReason

# A consent "given" later than this past now is not believed to be given after a withdrawal:
# clocks differ a little, a date in the future is a mistake (or a way around the withdrawal).
CLOCK_LEEWAY = timedelta(minutes=5)


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; everything here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def honour_withdrawal(
    consent: ConsentDecision, withdrawn_at: datetime | None, *, now: datetime
) -> ConsentDecision:
    """The consent, unless the member withdrew after it was given: then refused `withdrawn`.
    A consent that does not say when it was given cannot be shown to be newer, so it is refused
    too (as is the absence of a consent where none is required)."""
    if not consent.ok or withdrawn_at is None:
        return consent
    given = consent.given_at
    if given is not None and aware(withdrawn_at) < aware(given) <= aware(now) + CLOCK_LEEWAY:
        return consent
    return replace(
        consent,
        ok=False,
        reason=ConsentReason.WITHDRAWN.value,
        detail="the member withdrew consent after this consent was given; a newer consent "
        "is needed",
    )
