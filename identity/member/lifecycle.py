"""Enrolment changes one member or one small delta at a time, for the admin API.

One logic per change: a delta goes through the loader itself (`load_members` in delta mode, as
`identity members load --mode delta` does), a termination through the function that terminates a
snapshot's absentees, an erasure through `identity members erase`'s function. Nothing is deleted;
every change is audited with member ids only, last, in the caller's transaction.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import FieldError, InvalidInput, NotFound
from identity.matching.policy import CoverageStatusSpec
from identity.member import lifecycle_repository, repository
from identity.member.coverage import CoverageStatus, coverage_status
from identity.member.service import LoadMode, LoadReport, load_members
from identity.member.sources import SourceRecord, read_source
from identity.member.status import spec_for
from identity.policy.service import active_policy_version

_IN_MEMORY = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@dataclass(frozen=True, slots=True)
class DeltaResult:
    report: LoadReport
    member_ids: list[str]  # the members the delta named, sorted


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    member_id: str
    changed: bool  # False: the member was already in that state (nothing written)
    status: CoverageStatus  # after the change, on the change's date
    terminated_on: date | None  # the last covered day, once every coverage period has ended


def apply_delta(
    session: Session, actor: Actor, resources: Sequence[Mapping[str, Any]], as_of: date
) -> DeltaResult:
    """Apply FHIR Patient and Coverage resources as one delta load dated `as_of`: adds, changes,
    and leavers (`Patient.active: false`, `Coverage.period.end`). All or nothing: a bad resource
    is a 422 naming every bad one by its position, and nothing is written."""
    # The loader reads files; the delta's demographics go to a private folder in memory (tmpfs)
    # where there is one, removed when the load is done, never to a persistent disk.
    with tempfile.TemporaryDirectory(prefix="identity-delta-", dir=_IN_MEMORY) as folder:
        path = Path(folder) / "delta.ndjson"
        # One resource a line, in order: line n is resources[n - 1].
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in resources))
        report = load_members(session, actor.tenant, [path], mode=LoadMode.DELTA, as_of=as_of)
        if not report.ok:
            raise InvalidInput(
                f"{report.error_count} resource(s) cannot be applied; nothing was changed",
                errors=[FieldError(f"/resources/{n - 1}", msg) for _, n, msg in report.errors],
            )
        member_ids = sorted(
            {item.member_id for item in read_source(path) if isinstance(item, SourceRecord)}
        )
    audit.record(
        session,
        actor,
        action="member.delta",
        outcome="success",
        object_type="member",
        object_ids=member_ids,
    )
    return DeltaResult(report, member_ids)


def _state(session: Session, tenant: str, member_id: str) -> tuple[int, str]:
    found = repository.member_state(session, tenant, member_id)
    if found is None:
        raise NotFound("no such member")
    return found


def _status(session: Session, tenant: str, member_id: str, on: date) -> CoverageStatus:
    """On `on`, under the look-back of the tenant's active policy (the model's default when none
    is active), as $member-match would judge it."""
    version = active_policy_version(session, tenant)
    spec = spec_for(session, version) if version else CoverageStatusSpec()
    ends = repository.coverage_ends(session, tenant, [member_id])[member_id]
    return coverage_status(ends, on, spec.lookback_years)


def _change(
    session: Session, tenant: str, member_id: str, on: date, changed: bool
) -> LifecycleChange:
    terminated_on, _ = lifecycle_repository.lifecycle(session, tenant, [member_id])[member_id]
    return LifecycleChange(
        member_id, changed, _status(session, tenant, member_id, on), terminated_on
    )


def terminate(session: Session, actor: Actor, member_id: str, on: date) -> LifecycleChange:
    """The member is no longer covered from `on`: their coverage still open then ends the day
    before, as a snapshot that no longer lists them would end it. Terminating a member whose
    coverage already ended by then changes nothing (and says so)."""
    pk, content_hash = _state(session, actor.tenant, member_id)
    changed = bool(repository.end_open_coverage(session, actor.tenant, {pk: content_hash}, on))
    result = _change(session, actor.tenant, member_id, on, changed)
    _audit(session, actor, "member.terminate", member_id)
    return result


def reinstate(session: Session, actor: Actor, member_id: str, on: date) -> LifecycleChange:
    """The member is covered again from `on`: a new open coverage period starts then. A member
    whose coverage is current on `on` (or who has no period on file, so nothing says they left)
    is left as they are."""
    pk, content_hash = _state(session, actor.tenant, member_id)
    before = _status(session, actor.tenant, member_id, on)
    changed = before not in (CoverageStatus.CURRENT, CoverageStatus.UNKNOWN)
    if changed:
        repository.add_open_coverage(session, actor.tenant, pk, content_hash, on)
    result = _change(session, actor.tenant, member_id, on, changed)
    _audit(session, actor, "member.reinstate", member_id)
    return result


def _audit(session: Session, actor: Actor, action: str, member_id: str) -> None:
    audit.record(
        session,
        actor,
        action=action,
        outcome="success",
        object_type="member",
        object_ids=[member_id],
    )
