"""Which matched members $member-match may disclose, by their coverage status.

The decision still finds a former member (its evidence says whether their coverage is current or
ended, and when); the answer is decided here, on the day it is given: a member whose coverage
ended before the policy's look-back is answered as no match when the policy says
`coverage_status.past_lookback: not_disclosed` (the default; CMS payer-to-payer covers five years).
One place for the single, the polled and the bulk answers.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from identity.matching.policy import CoverageStatusSpec
from identity.member.coverage import CoverageStatus, coverage_status
from identity.member.status import spec_for, statuses

__all__ = ["disclosed", "spec_for", "status_of", "statuses"]


def status_of(
    ends: Collection[date | None], spec: CoverageStatusSpec, today: date
) -> CoverageStatus:
    return coverage_status(ends, today, spec.lookback_years)


def disclosed(status: CoverageStatus | None, spec: CoverageStatusSpec) -> bool:
    """May $member-match answer with a member of this status?"""
    if status is CoverageStatus.ENDED_BEFORE_LOOKBACK:
        return spec.past_lookback == "disclosed"
    return True
