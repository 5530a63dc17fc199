"""Members' coverage status on a date, from their stored coverage periods (one query, or none
when candidate retrieval read the end dates with the candidates)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from identity.matching.policy import CoverageStatusSpec
from identity.member.coverage import CoverageStatus, coverage_status
from identity.member.repository import coverage_ends
from identity.policy.service import stored_policy

_specs: dict[str, CoverageStatusSpec] = {}  # policy versions are immutable: cached for good
_lock = threading.Lock()


def spec_for(session: Session, policy_version: str) -> CoverageStatusSpec:
    """The `coverage_status` section of a stored policy version (parsed once per process)."""
    spec = _specs.get(policy_version)
    if spec is None:
        spec = stored_policy(session, policy_version).document.coverage_status
        with _lock:
            _specs[policy_version] = spec
    return spec


def statuses(
    session: Session,
    tenant: str,
    member_ids: Collection[str],
    spec: CoverageStatusSpec,
    today: date,
    known: Mapping[str, Sequence[date | None]] | None = None,
) -> dict[str, CoverageStatus]:
    """Each member's coverage status on `today`, under the policy's look-back, by member id in
    id order. `known`: end dates already read (`repository.Retrieved`); the rest are read."""
    known = known or {}
    unread = sorted(m for m in set(member_ids) if m not in known)
    read = coverage_ends(session, tenant, unread) if unread else {}
    return {
        m: coverage_status(known[m] if m in known else read[m], today, spec.lookback_years)
        for m in sorted(set(member_ids))
    }


def evidence(
    session: Session,
    tenant: str,
    member_ids: Collection[str],
    spec: CoverageStatusSpec,
    today: date,
    known: Mapping[str, Sequence[date | None]] | None = None,
) -> dict[str, Any]:
    """The decision's record of the candidates' coverage: the date and look-back it was judged
    on, and each candidate's status (whether $member-match may disclose them follows from it)."""
    found = statuses(session, tenant, member_ids, spec, today, known)
    return _record(spec, today, {m: s.value for m, s in found.items()})


def evidence_from(
    member_ids: Collection[str],
    spec: CoverageStatusSpec,
    today: date,
    known: Mapping[str, Sequence[date | None]],
) -> dict[str, Any]:
    """`evidence` when every member's end dates were read with the candidates (a bulk batch):
    pure, so a batch's decisions carry it before their JSON is written."""
    members = {
        m: coverage_status(known[m], today, spec.lookback_years).value
        for m in sorted(set(member_ids))
    }
    return _record(spec, today, members)


def _record(spec: CoverageStatusSpec, today: date, members: dict[str, str]) -> dict[str, Any]:
    return {
        "as_of": today.isoformat(),
        "lookback_years": spec.lookback_years,
        "past_lookback": spec.past_lookback,
        "members": members,
    }
