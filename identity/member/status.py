"""Members' coverage status on a date, from their stored coverage periods (one query, or none
when candidate retrieval read the end dates with the candidates)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

import orjson
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


def add_to_rows(session: Session, rows: Sequence[dict[str, Any]], today: date) -> None:
    """`evidence` for decision rows written in bulk (their JSON columns serialised), in place:
    the same record a single match writes, from one read for the whole batch."""
    listed = [[c["member_id"] for c in orjson.loads(r["candidates"])] for r in rows]
    wanted = {(r["tenant_id"], m) for r, ids in zip(rows, listed, strict=True) for m in ids}
    ends: dict[tuple[str, str], list[date | None]] = {}
    for tenant in sorted({t for t, _ in wanted}):
        found = coverage_ends(session, tenant, sorted(m for t, m in wanted if t == tenant))
        ends.update({(tenant, m): e for m, e in found.items()})
    for row, ids in zip(rows, listed, strict=True):
        spec = spec_for(session, row["policy_version"])
        members = {
            m: coverage_status(ends[(row["tenant_id"], m)], today, spec.lookback_years).value
            for m in sorted(ids)
        }
        document = orjson.loads(row["evidence"])
        document["coverage_status"] = _record(spec, today, members)
        row["evidence"] = orjson.dumps(document).decode()


def _record(spec: CoverageStatusSpec, today: date, members: dict[str, str]) -> dict[str, Any]:
    return {
        "as_of": today.isoformat(),
        "lookback_years": spec.lookback_years,
        "past_lookback": spec.past_lookback,
        "members": members,
    }
