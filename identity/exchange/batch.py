"""$member-match for a batch of requests at once (the members of a $bulk-member-match job), with
each member's answer, decision, evidence, token and audit event exactly as `service.member_match`
would give them, one request after another, in the batch's order.

What makes it a batch is the I/O: every lookup a request makes (the cards tried with its
demographics and the people tried with its card, an earlier review of the same request, its
candidates, a consent withdrawal for the matched member, the matched member's Patient id) is one
set-based read for the whole batch, and every write (decisions, review items, stored
requests, tokens, attempts) one executemany at the end. What a request would have read from an
earlier request of the same batch (the guard's attempts, a review item it opened) is carried
forward in memory, in order. The guard forgets old attempts once per batch.

The rare request that finds an earlier review a steward has settled goes through the single
path's own `answer_after_review` (a token revoked and reissued at once), so a later request of the
batch sees its writes as it would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.auth.principal import Principal
from identity.config import Settings
from identity.consent import service as consent_service
from identity.consent.evaluate import ConsentDecision, evaluate_consent
from identity.consent.withdrawal import honour_withdrawal
from identity.exchange import coverage, guard, repository
from identity.exchange.guard import GuardKeys
from identity.exchange.outcomes import (
    InsufficientDemographics,
    NoMatch,
    TooManyAttempts,
)
from identity.exchange.service import (
    Matched,
    MemberMatchResult,
    Refused,
    answer_after_review,
    attempt_row,
    audit_answer,
    forget_old_attempts,
    guard_tried,
    refusal_for_member,
    refusal_for_new,
    request_row,
)
from identity.fhir.member_match import MemberMatchRequest
from identity.learned_names import service as learned_names
from identity.matching.decision import Outcome
from identity.matching.record import StandardRecord
from identity.matching.standardize import standardize
from identity.member.repository import coverage_ends
from identity.models import ReviewItem
from identity.policy.cache import MatcherCache
from identity.resolution import batch as resolution
from identity.resolution.service import fingerprint
from identity.tokens import repository as token_repository
from identity.tokens import service as tokens


@dataclass(slots=True)
class _Member:
    """One request of the batch on its way through."""

    request: MemberMatchRequest
    query: StandardRecord
    standardize_s: float
    fingerprint: str
    keys: GuardKeys
    consent: ConsentDecision | None = None
    throttled: bool = False
    prior: ReviewItem | None = None  # an earlier review of the same request
    decision: resolution.NewDecision | None = None


def member_match_batch(
    session: Session,
    actor: Actor,
    caller: Principal,
    matchers: MatcherCache,
    requests: Sequence[MemberMatchRequest | None],
    *,
    settings: Settings,
    today: date,
    now: datetime,
    helpers: Executor | None = None,
    helper_count: int = 0,
) -> list[MemberMatchResult]:
    """Each request's answer, in order. None stands for a request that lacked what a match
    needs: refused `insufficient-demographics`. A request the guard throttles is refused
    `too-many-attempts` (a single request's 429). Both are audited as the bulk worker audits
    them; nothing else is written for them. Call inside `audit.deferred`. `helpers`: processes
    that take a share of the deciding (`helper_count` of them)."""
    members: list[_Member | None] = []
    for request in requests:
        if request is None:
            members.append(None)
            continue
        started = time.perf_counter()
        query = standardize(request.raw, today=today)
        members.append(
            _Member(
                request,
                query,
                time.perf_counter() - started,
                fingerprint(query),
                guard.guard_keys(query, request.card_key),
            )
        )
    live = [m for m in members if m is not None]

    # The guard, in order: each request sees what was tried before it, in this batch too. The
    # batch's keys are locked before they are counted, as a single request locks its own.
    tried = guard_tried(session, actor, [m.keys for m in live], settings, now)
    for m in live:
        m.throttled = not guard.admit(tried, m.keys, settings, now)
    admitted = [m for m in live if not m.throttled]
    for m in admitted:
        m.consent = evaluate_consent(
            m.request.consent,
            recipient=caller.organization,
            today=today,
            required=settings.require_consent,
        )

    # Earlier reviews of the same request still open, then the candidates of those that have
    # none (a settled review answers through matching, which remembers the steward's decision).
    latest = repository.latest_reviews_for(session, actor.tenant, {m.fingerprint for m in admitted})
    priors = {fp: item for fp, item in latest.items() if item.status != "resolved"}
    to_match = [m for m in admitted if m.fingerprint not in priors]
    matcher = matchers.for_tenant(session, actor.tenant) if to_match else None
    decisions: dict[int, resolution.NewDecision] = {}
    if matcher is not None:
        queries = [m.query for m in to_match]
        learned = learned_names.for_queries(session, actor.tenant, matcher.given_names, queries)
        found, end_dates, per_query_s = resolution.retrieve_for(
            session, actor.tenant, matcher, queries, learned
        )
        # Decided together (pure work, shared with helper processes if any), used in order
        # below: the decision of a request that repeats one this batch sent to review is
        # dropped, unwritten, and the request answered from the item as it would be.
        decided = resolution.decide_all(
            actor.tenant,
            matcher,
            [
                (m.query, c, e, m.standardize_s)
                for m, c, e in zip(to_match, found, end_dates, strict=True)
            ],
            today=today,
            candidates_s=per_query_s,
            helpers=helpers,
            helper_count=helper_count,
            learned=learned,
        )
        decisions = {id(m): d for m, d in zip(to_match, decided, strict=True)}
    for m in admitted:
        prior = priors.get(m.fingerprint)
        if prior is not None:
            m.prior = prior
            continue
        m.decision = decisions[id(m)]
        if m.decision.review_row is not None:
            priors[m.fingerprint] = ReviewItem(**m.decision.review_row)

    recipient = caller.organization
    # Every member the batch may answer for, a settled review's too (read again, from the same
    # locked set, when `answer_after_review` answers it).
    answerable = {
        m.decision.member_id
        for m in admitted
        if m.decision is not None and m.decision.member_id and m.decision.outcome == Outcome.MATCH
    } | {
        m.prior.resolved_member_id
        for m in admitted
        if m.prior is not None and m.prior.resolved_member_id
    }
    withdrawals = consent_service.withdrawn_at(session, actor.tenant, answerable, recipient)
    patients = repository.patient_ids(
        session,
        actor.tenant,
        {
            m.decision.member_id
            for m in admitted
            if m.decision is not None
            and m.decision.member_id
            and m.decision.outcome == Outcome.MATCH
            and m.consent is not None
            and m.consent.ok
        },
    )

    ends = coverage_ends(session, actor.tenant, sorted(answerable))
    results: list[MemberMatchResult] = []
    stored_requests: list[dict[str, Any]] = []
    token_rows: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    for member in members:
        if member is None:
            audit.record(
                session, actor, action="member-match.insufficient-demographics", outcome="invalid"
            )
            results.append(Refused(InsufficientDemographics([]), None))
            continue
        if member.throttled:
            audit.record(
                session, actor, action="member-match.too-many-attempts", outcome="rate-limited"
            )
            results.append(Refused(TooManyAttempts(settings.member_match_window_s), None))
            continue
        assert member.consent is not None
        result: MemberMatchResult
        if member.prior is not None:
            result = answer_after_review(
                session, actor, member.prior, member.consent, recipient, settings, now
            )
            policy_version = member.prior.policy_version
        else:
            decision = member.decision
            assert decision is not None
            stored_requests.append(request_row(actor, decision.id, member.consent))
            result = _answer(
                session,
                actor,
                decision,
                member.consent,
                withdrawals,
                ends,
                patients,
                token_rows,
                settings,
                now,
            )
            policy_version = decision.policy_version
        attempts.append(attempt_row(actor, member.keys, now))
        audit_answer(session, actor, result, policy_version)
        results.append(result)

    resolution.store(session, [m.decision for m in admitted if m.decision is not None])
    repository.add_requests(session, stored_requests)
    token_repository.add_many(session, token_rows)
    if attempts:
        forget_old_attempts(session, actor, tried, settings, now)
        repository.add_attempts(session, attempts)
    return results


def _answer(
    session: Session,
    actor: Actor,
    decision: resolution.NewDecision,
    consent: ConsentDecision,
    withdrawals: dict[str, datetime],
    ends: dict[str, list[date | None]],
    patients: dict[str, str | None],
    token_rows: list[dict[str, Any]],
    settings: Settings,
    now: datetime,
) -> MemberMatchResult:
    """`member_match`'s answer to a new decision, by its steps, from the batch's reads (a
    consent withdrawal, coverage end dates, Patient id of each member); a token's row joins
    `token_rows`."""
    refused = refusal_for_new(
        decision.outcome, decision.reason, decision.review_item_id, decision.id
    )
    if refused is not None:
        return refused
    member_id = decision.member_id
    if decision.outcome != Outcome.MATCH or not member_id:
        return Refused(NoMatch("no member matches"), decision.id)
    spec = coverage.spec_for(session, decision.policy_version)
    status = coverage.status_of(ends.get(member_id, []), spec, now.date())
    consent = honour_withdrawal(consent, withdrawals.get(member_id), now=now)
    refused = refusal_for_member(decision.id, coverage.disclosed(status, spec), consent)
    if refused is not None:
        return refused
    row, issued = tokens.new_token(
        actor,
        client_id=actor.client_id or "",
        member_id=member_id,
        patient_id=patients.get(member_id),
        consent=consent,
        policy_version=decision.policy_version,
        decision_id=decision.id,
        now=now,
        max_lifetime=timedelta(seconds=settings.match_token_lifetime_s),
    )
    token_rows.append(row)
    return Matched(issued.token, decision.id, issued.token_id, member_id, status.value)
