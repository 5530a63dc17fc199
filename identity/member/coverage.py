"""A member's coverage status on a date: current, ended within the look-back, or ended before it.

CMS payer-to-payer exchange asks the old payer about members who left within the last five years;
the evidence says which of these a matched member is, and the policy decides whether a former
member past the look-back is disclosed (`coverage_status` in the policy). Pure: the caller reads
the coverage periods' end dates (identity/member/repository.py: `coverage_ends`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum


class CoverageStatus(StrEnum):
    CURRENT = "current"
    ENDED_WITHIN_LOOKBACK = "ended-within-lookback"
    ENDED_BEFORE_LOOKBACK = "ended-before-lookback"
    UNKNOWN = "unknown"  # no coverage period on file: nothing says the member left


def lookback_start(today: date, years: int) -> date:
    """The first day inside the look-back (29 February falls back to the 28th)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def coverage_status(
    ends: Iterable[date | None], today: date, lookback_years: int
) -> CoverageStatus:
    """From the end dates of a member's coverage periods (None: open-ended; an end date is the
    last covered day)."""
    known = list(ends)
    if not known:
        return CoverageStatus.UNKNOWN
    if any(end is None or end >= today for end in known):
        return CoverageStatus.CURRENT
    latest = max(end for end in known if end is not None)
    if latest >= lookback_start(today, lookback_years):
        return CoverageStatus.ENDED_WITHIN_LOOKBACK
    return CoverageStatus.ENDED_BEFORE_LOOKBACK
