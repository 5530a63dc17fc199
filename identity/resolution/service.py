"""The match use case: demographics in, a stored decision with its evidence out.

Steps 1-5 (standardise, block, rules, score, decide) are the pure core; this module adds the two
reads around them (policy, candidates) and the one write after them (the decision), all in the
caller's transaction.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy.orm import Session

from identity import group_commit
from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.errors import FieldError, InvalidInput, NotFound
from identity.fhir.demographics import (
    check_limits,
    check_required,
    parse_coverage,
    parse_patient,
    to_raw,
)
from identity.fhir.patient_match import (
    PatientMatchRequest,
    Selection,
    grade_candidates,
    select_entries,
)
from identity.learned_names import service as learned_names
from identity.matching.blocking import blocking_keys
from identity.matching.decision import Outcome
from identity.matching.engine import Resolution
from identity.matching.engine_version import engine_version
from identity.matching.evidence import compact_candidates
from identity.matching.evidence_render import LAYOUT, LAYOUT_KEY
from identity.matching.record import RawDemographics, StandardRecord, record_as_dict
from identity.matching.standardize import standardize
from identity.member.repository import retrieve_candidates, source_documents
from identity.member.status import evidence as coverage_evidence
from identity.models import MatchDecision
from identity.policy.cache import MatcherCache
from identity.resolution import repository
from identity.review import service as review_service
from identity.review.memory import in_use, mark_candidates


def parse_match_request(body: Any, today: date) -> RawDemographics:
    """`{"patient": Patient, "coverage": Coverage?}` -> raw demographics, or every error at once."""
    if not isinstance(body, dict):
        raise InvalidInput(
            "the body must be a JSON object", errors=[FieldError("", "not an object")]
        )
    unknown = sorted(set(body) - {"patient", "coverage"})
    errors = [FieldError(f"/{k}"[:64], "unknown member") for k in unknown[:5]]
    patient, patient_errors = parse_patient(body.get("patient"))
    errors += patient_errors
    coverage = None
    if body.get("coverage") is not None:
        coverage, coverage_errors = parse_coverage(body["coverage"])
        errors += coverage_errors
    if patient is not None:
        errors += check_limits(patient)
        errors += check_required(patient, today)
    if errors or patient is None:
        raise InvalidInput("the match request is not valid", errors=errors)
    return to_raw(patient, coverage)


def fingerprint(record: StandardRecord) -> str:
    """sha256 of the standardised input: equal for requests that mean the same person."""
    return hashlib.sha256(
        orjson.dumps(record_as_dict(record), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


def _evidence(query: StandardRecord, resolution: Resolution, policy_version: str) -> dict[str, Any]:
    """The evidence as stored: compact, rendered on read (`identity.matching.evidence_render`).
    The query stays a top-level key, as SQL reads it there (`evidence["query"]`)."""
    return {
        LAYOUT_KEY: LAYOUT,
        "policy_version": policy_version,
        "engine": engine_version(),
        "decision": {
            "outcome": resolution.decision.outcome.value,
            "stage": resolution.decision.stage.value,
            "reason": resolution.decision.reason.value,
            "probability": resolution.decision.probability,
        },
        "rules_without_ssn": resolution.ssn_set_aside,
        **({"steward_decision": resolution.same_person} if resolution.same_person else {}),
        **(
            {learned_names.EVIDENCE_KEY: list(resolution.learned_given_names)}
            if resolution.learned_given_names
            else {}
        ),
        "query": record_as_dict(query),
        **compact_candidates(resolution),
    }


def _candidate_summary(resolution: Resolution) -> list[dict[str, Any]]:
    """Best first: certain, then open by probability, then excluded."""
    order = {"certain": 0, "open": 1, "excluded": 2}
    names = [name for name, _ in resolution.matcher.ruleset.labels]
    scores = resolution.scores
    weights = [None] * len(resolution.candidates) if scores is None else scores.weights
    # Most candidates share a row of rule verdicts: its names listed once per distinct row.
    named: dict[tuple[bool, ...], list[str]] = {}
    for fired in resolution.fired:
        if fired not in named:
            named[fired] = [n for n, f in zip(names, fired, strict=True) if f]
    rows = [
        {
            "member_id": c.member_id,
            "status": status.value,
            "probability": probability,
            "match_weight": weight,
            "blocking_keys": list(c.matched_keys),
            "rules_fired": list(named[fired]),
        }
        for c, status, probability, weight, fired in zip(
            resolution.candidates,
            resolution.statuses,
            resolution.probabilities,
            weights,
            resolution.fired,
            strict=True,
        )
    ]
    return sorted(rows, key=lambda r: (order[r["status"]], -(r["probability"] or 0.0)))


def decision_fields(
    tenant: str,
    query: StandardRecord,
    resolution: Resolution,
    policy_version: str,
    timings_ms: dict[str, float],
    input_fingerprint: str | None = None,
) -> dict[str, Any]:
    """A match_decision row's values by column name: a new id, the outcome, candidates and
    evidence (stored compact). One definition for a single request and for a bulk batch.
    `input_fingerprint`: the query's, when the caller has it already."""
    member = resolution.member
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "input_fingerprint": input_fingerprint or fingerprint(query),
        "policy_version": policy_version,
        "outcome": resolution.decision.outcome.value,
        "stage": resolution.decision.stage.value,
        "reason": resolution.decision.reason.value,
        "member_id": member.member_id if member else None,
        "probability": resolution.decision.probability,
        "candidates": _candidate_summary(resolution),
        "evidence": _evidence(query, resolution, policy_version),
        "timings_ms": timings_ms,
    }


@dataclass(frozen=True, slots=True)
class MatchResult:
    decision: MatchDecision
    review_item_id: str | None


def match(
    session: Session,
    tenant: str,
    matchers: MatcherCache,
    raw: RawDemographics,
    *,
    today: date,
    actor: Actor | None = None,
    requester: str | None = None,
) -> MatchResult:
    """Resolve one person against the tenant's members and store the decision with its evidence
    (and, for a request, its audit event: the last write, so the chain lock is held briefly).
    The decision remembers the client that asked (`requester`, else the actor's): it may read
    the outcome back and hears of its review's settlement."""
    started = time.perf_counter()
    matcher = matchers.for_tenant(session, tenant)
    policy = matcher.policy
    query = standardize(raw, today=today)
    standardised = time.perf_counter()

    blocking = policy.document.blocking
    # Which stewards' memories the tenant has anything in (one read spares the others' reads).
    memory = in_use(session, tenant)
    # Given-name pairs stewards' links taught, when the policy learns from them (one read).
    learned = learned_names.for_queries(
        session, tenant, matcher.given_names, [query], any_active=memory.learned_names
    )
    # The candidates with their coverage end dates (one read).
    found = retrieve_candidates(
        session,
        tenant,
        blocking_keys(matcher.given_names.query_view(query, learned), blocking.keys),
        max_block_size=blocking.max_block_size,
        max_candidates=blocking.max_candidates,
    )
    # What stewards decided about this request and these candidates (remembered decisions).
    asked = fingerprint(query)
    marked = mark_candidates(session, tenant, [(asked, found.candidates)], memory)
    candidates = marked[0]
    retrieved = time.perf_counter()

    resolution = matcher.resolve(query, candidates, learned)
    decided = time.perf_counter()

    timings = {
        "standardize": round((standardised - started) * 1000, 3),
        "candidates": round((retrieved - standardised) * 1000, 3),
        "decide": round((decided - retrieved) * 1000, 3),
    }
    fields = decision_fields(tenant, query, resolution, policy.version, timings, asked)
    # Whether each candidate's coverage is current or ended, and when (former members are found).
    listed = [c.member_id for c in resolution.candidates]
    spec = policy.document.coverage_status
    covered = coverage_evidence(session, tenant, listed, spec, today, found.coverage_ends)
    stored = fields.pop("evidence")
    stored["coverage_status"] = covered
    decision = MatchDecision(**fields, stored_evidence=stored)
    decision.client_id = requester or (actor.client_id if actor is not None else None)
    group_commit.stage(session)  # new rows and audit events only from here: groupable
    repository.add_decision(session, decision)
    item = (
        review_service.open_item(session, decision) if decision.outcome == Outcome.REVIEW else None
    )
    if actor is not None:
        touched = (decision.id, item.id if item else None, decision.member_id)
        audit.record(
            session,
            actor,
            action="match.create",
            outcome="success",
            object_type="match_decision",
            object_ids=[i for i in touched if i],
            policy_version=decision.policy_version,
        )
    return MatchResult(decision, item.id if item else None)


def get_match(session: Session, actor: Actor, match_id: str) -> MatchResult:
    decision = repository.get_decision(session, actor.tenant, match_id)
    if decision is None:
        raise NotFound("no match decision with that id")
    item = review_service.item_for_match(session, actor.tenant, match_id)
    audit.record(
        session,
        actor,
        action="decision.read",
        outcome="success",
        object_type="match_decision",
        object_ids=[decision.id],
        policy_version=decision.policy_version,
    )
    return MatchResult(decision, item.id if item else None)


@dataclass(frozen=True, slots=True)
class PatientMatch:
    result: MatchResult
    selection: Selection
    sources: dict[str, dict[str, Any]]  # member id -> the source record of each returned member


def patient_match(
    session: Session,
    actor: Actor,
    matchers: MatcherCache,
    request: PatientMatchRequest,
    *,
    today: date,
) -> PatientMatch:
    """FHIR `Patient/$match`: the same stored decision as `match`, its candidates graded under
    the decision's own policy, and the returned members' records read, the read audited."""
    result = match(
        session,
        actor.tenant,
        matchers,
        request.demographics,
        today=today,
        requester=actor.client_id,
    )
    decision = result.decision
    spec = matchers.for_version(session, decision.policy_version).policy.document.decision
    selection = select_entries(
        grade_candidates(decision, spec), only_certain=request.only_certain, count=request.count
    )
    member_ids = [e.member_id for e in selection.entries]
    sources = source_documents(session, actor.tenant, member_ids)
    # One event for the request, in place of match.create: what it created (the decision, its
    # review item), then the members whose records the answer discloses.
    created = [i for i in (decision.id, result.review_item_id) if i]
    audit.record(
        session,
        actor,
        action="patient.match",
        outcome="success",
        object_type="match_decision",
        object_ids=[*created, *member_ids],
        policy_version=decision.policy_version,
        http_status=200,
    )
    return PatientMatch(result, selection, sources)
