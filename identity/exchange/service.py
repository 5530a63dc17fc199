"""The $member-match use case, the old payer's side of the payer-to-payer exchange.

One request runs through the same pipeline as /v1/match (the coverage's ids feed the deterministic
stage), then the answer is decided here: a single confident match with a consent that can be
honoured yields a match token; anything else a refusal with its outcome code. Refusals are answers,
not errors: the decision, the attempt and the audit event are committed with them, so every
attempt is remembered. A request a steward must confirm is answered `pending-review`; once the
steward settles it, the same request again (or the status URL) gets the final answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from identity.audit import service as audit
from identity.audit.actor import Actor
from identity.auth.principal import Principal
from identity.clients.organization import OrgIdentifier
from identity.config import Settings
from identity.consent import service as consent_service
from identity.consent.evaluate import ConsentDecision, evaluate_consent
from identity.consent.withdrawal import honour_withdrawal
from identity.errors import NotFound
from identity.exchange import coverage, guard, repository
from identity.exchange.guard import GuardKeys
from identity.exchange.outcomes import (
    ConsentInvalid,
    MemberMatchRefused,
    MultipleMatches,
    NoMatch,
    PendingReview,
    TooManyAttempts,
)
from identity.fhir.member_match import MemberMatchRequest
from identity.keyed_lock import lock_keys
from identity.matching.decision import Outcome, Reason
from identity.matching.standardize import standardize
from identity.models import MatchDecision
from identity.models import MemberMatchRequest as StoredRequest
from identity.policy.cache import MatcherCache
from identity.resolution import repository as decisions
from identity.resolution import service as resolution
from identity.review import service as review_service
from identity.tokens import service as tokens


@dataclass(frozen=True, slots=True)
class Matched:
    token: str
    match_id: str
    token_id: str
    member_id: str
    coverage_status: str | None = None  # identity/member/coverage.py: CoverageStatus


@dataclass(frozen=True, slots=True)
class Refused:
    refusal: MemberMatchRefused
    match_id: str | None


@dataclass(frozen=True, slots=True)
class StillPending:
    review_item_id: str


MemberMatchResult = Matched | Refused


def status_path(match_id: str) -> str:
    return f"/fhir/member-match-requests/{match_id}"


def guard_tried(
    session: Session,
    actor: Actor,
    keys: Sequence[GuardKeys],
    settings: Settings,
    now: datetime,
) -> guard.Tried:
    """HRex: servers SHALL guard against the same demographics tried with varying card data
    (identity/exchange/guard.py). What the client tried with these requests' keys (one request's,
    or a batch's), read after the keys are locked, so concurrent requests are counted one after
    another; each attempt is written at the end (`attempt_row`), under the same lock."""
    client = actor.client_id or ""
    lock_keys(session, [n for k in keys for n in guard.lock_names(actor.tenant, client, k)])
    since = now - timedelta(seconds=settings.member_match_window_s)
    return repository.tried(
        session,
        actor.tenant,
        client,
        {k.demographics for k in keys},
        {k.card for k in keys},
        since,
    )


def _guard(
    session: Session,
    actor: Actor,
    keys: GuardKeys,
    settings: Settings,
    now: datetime,
) -> guard.Tried:
    tried = guard_tried(session, actor, [keys], settings, now)
    if not guard.admit(tried, keys, settings, now):
        raise TooManyAttempts(guard.retry_after_s(tried, keys, settings, now))
    return tried


def attempt_row(actor: Actor, keys: GuardKeys, now: datetime) -> dict[str, Any]:
    """The attempt a request leaves for the guard to count."""
    return {
        "tenant_id": actor.tenant,
        "client_id": actor.client_id or "",
        "demographics_key": keys.demographics,
        "card_key": keys.card,
        "person_key": keys.person,
        "attempted_at": now,
    }


def forget_old_attempts(
    session: Session, actor: Actor, tried: guard.Tried, settings: Settings, now: datetime
) -> None:
    """Attempts past the guard's window no longer count: forgotten as new ones are written, when
    due (`guard.forget_due`)."""
    if guard.forget_due(tried, settings, now):
        window = timedelta(seconds=settings.member_match_window_s)
        before = now - window
        repository.forget_attempts_before(session, actor.tenant, actor.client_id or "", before)


def _remember_attempt(
    session: Session,
    actor: Actor,
    keys: GuardKeys,
    tried: guard.Tried,
    settings: Settings,
    now: datetime,
) -> None:
    forget_old_attempts(session, actor, tried, settings, now)
    repository.add_attempt(session, attempt_row(actor, keys, now))


def request_row(actor: Actor, match_id: str, consent: ConsentDecision) -> dict[str, Any]:
    """The stored request a later poll answers from: whose it is and the consent as evaluated."""
    return {
        "match_id": match_id,
        "tenant_id": actor.tenant,
        "client_id": actor.client_id or "",
        "consent": consent_json(consent),
    }


def refusal_for_new(
    outcome: str, reason: str | None, review_item_id: str | None, match_id: str
) -> Refused | None:
    """A new decision a steward must see answers multiple-matches or pending-review; None for
    any other decision."""
    if outcome == Outcome.REVIEW and reason == Reason.MULTIPLE_CERTAIN:
        return Refused(MultipleMatches("more than one member is certain"), match_id)
    if outcome == Outcome.REVIEW and review_item_id:
        return Refused(PendingReview(review_item_id, status_path(match_id)), match_id)
    return None


def refusal_for_member(match_id: str, disclosed: bool, consent: ConsentDecision) -> Refused | None:
    """Why a matched member is not answered with a token: a former member past the look-back
    (no-match), or a consent that cannot be honoured (withdrawals already applied); None when
    a token is due."""
    if not disclosed:
        return Refused(NoMatch("no member matches"), match_id)
    if not consent.ok:
        return Refused(ConsentInvalid(consent.detail or "the consent cannot be honoured"), match_id)
    return None


def consent_json(consent: ConsentDecision) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(consent).items()}


def _consent_from(stored: dict[str, Any], today: date) -> ConsentDecision:
    """The consent as evaluated when asked, re-checked against today's date."""
    start, end = stored.get("period_start"), stored.get("period_end")
    given = stored.get("given_at")
    decision = ConsentDecision(
        ok=bool(stored.get("ok")),
        reason=stored.get("reason"),
        category=stored.get("category"),
        period_start=date.fromisoformat(start) if start else None,
        period_end=date.fromisoformat(end) if end else None,
        detail=stored.get("detail"),
        given_at=datetime.fromisoformat(given) if given else None,
    )
    if decision.ok and decision.period_end is not None and decision.period_end < today:
        return replace(
            decision, ok=False, reason="expired", detail="the consent's period has ended"
        )
    return decision


def _answer_with_member(
    session: Session,
    actor: Actor,
    *,
    member_id: str,
    match_id: str,
    policy_version: str,
    consent: ConsentDecision,
    recipient: OrgIdentifier | None,
    settings: Settings,
    now: datetime,
    replaces: bool = True,
) -> MemberMatchResult:
    spec = coverage.spec_for(session, policy_version)
    patient_id, ends = repository.answered_member(session, actor.tenant, member_id)
    status = coverage.status_of(ends, spec, now.date())
    withdrawn = consent_service.withdrawn_at(session, actor.tenant, [member_id], recipient)
    consent = honour_withdrawal(consent, withdrawn.get(member_id), now=now)
    refused = refusal_for_member(match_id, coverage.disclosed(status, spec), consent)
    if refused is not None:
        return refused
    if replaces:  # one live token per decision: asking again replaces, never multiplies
        tokens.revoke_for_decision(session, actor, match_id, reason="reissued", now=now)
    issued = tokens.issue(
        session,
        actor,
        client_id=actor.client_id or "",
        member_id=member_id,
        patient_id=patient_id,
        consent=consent,
        policy_version=policy_version,
        decision_id=match_id,
        now=now,
        max_lifetime=timedelta(seconds=settings.match_token_lifetime_s),
        audited=False,
    )
    return Matched(issued.token, match_id, issued.token_id, member_id, status.value)


def _answer_decision(
    session: Session,
    actor: Actor,
    decision: MatchDecision,
    consent: ConsentDecision,
    recipient: OrgIdentifier | None,
    settings: Settings,
    now: datetime,
    replaces: bool = True,
) -> MemberMatchResult:
    """A decision no steward is looking at: a token for its match, else no-match."""
    if decision.outcome == Outcome.MATCH and decision.member_id:
        return _answer_with_member(
            session,
            actor,
            member_id=decision.member_id,
            match_id=decision.id,
            policy_version=decision.policy_version,
            consent=consent,
            recipient=recipient,
            settings=settings,
            now=now,
            replaces=replaces,
        )
    return Refused(NoMatch("no member matches"), decision.id)


def audit_answer(
    session: Session, actor: Actor, result: MemberMatchResult, policy: str | None
) -> None:
    """The request's one audit event: the decision, then the member and token id (a match) or
    the review item (pending)."""
    if isinstance(result, Matched):
        code, ids = "matched", [result.match_id, result.member_id, result.token_id]
    else:
        review = getattr(result.refusal, "review_item_id", None)
        code, ids = result.refusal.code, [i for i in (result.match_id, review) if i]
    audit.record(
        session,
        actor,
        action=f"member-match.{code}"[:48],
        outcome="success",
        object_type="match_decision",
        object_ids=ids,
        policy_version=policy,
    )


def member_match(
    session: Session,
    actor: Actor,
    caller: Principal,
    matchers: MatcherCache,
    request: MemberMatchRequest,
    *,
    settings: Settings,
    today: date,
    now: datetime | None = None,
) -> MemberMatchResult:
    now = now or datetime.now(UTC)
    query = standardize(request.raw, today=today)
    keys = guard.guard_keys(query, request.card_key)
    tried = _guard(session, actor, keys, settings, now)
    consent = evaluate_consent(
        request.consent,
        recipient=caller.organization,
        today=today,
        required=settings.require_consent,
    )
    # A review still open answers for the request; a settled one no longer does: what the
    # steward decided is remembered, and matching answers with it (as it does for /v1/match).
    prior = repository.latest_review_for(session, actor.tenant, resolution.fingerprint(query))
    if prior is not None and prior.status != "resolved":
        settled = answer_after_review(
            session, actor, prior, consent, caller.organization, settings, now
        )
        _remember_attempt(session, actor, keys, tried, settings, now)
        audit_answer(session, actor, settled, prior.policy_version)
        return settled
    found = resolution.match(
        session, actor.tenant, matchers, request.raw, today=today, requester=actor.client_id
    )
    decision = found.decision
    repository.add_request(session, StoredRequest(**request_row(actor, decision.id, consent)))
    result: MemberMatchResult | None = refusal_for_new(
        decision.outcome, decision.reason, found.review_item_id, decision.id
    )
    if result is None:
        result = _answer_decision(
            session, actor, decision, consent, caller.organization, settings, now, replaces=False
        )
    _remember_attempt(session, actor, keys, tried, settings, now)
    audit_answer(session, actor, result, decision.policy_version)
    return result


def answer_after_review(
    session: Session,
    actor: Actor,
    item: Any,
    consent: ConsentDecision,
    recipient: OrgIdentifier | None,
    settings: Settings,
    now: datetime,
) -> MemberMatchResult:
    """The same request again, after a steward's review (or while it is still open). A consent
    withdrawn since is honoured here too (`_answer_with_member`)."""
    if item.status != "resolved" and item.reason == Reason.MULTIPLE_CERTAIN:
        # The same answer as the first time, until a steward settles the duplicate enrolment.
        return Refused(MultipleMatches("more than one member is certain"), item.match_id)
    if item.status != "resolved":
        return Refused(PendingReview(item.id, status_path(item.match_id)), item.match_id)
    # Linked, or marked as another record of one person: answered with the (surviving) member.
    if item.resolution in ("link", "same_person") and item.resolved_member_id:
        return _answer_with_member(
            session,
            actor,
            member_id=item.resolved_member_id,
            match_id=item.match_id,
            policy_version=item.policy_version,
            consent=consent,
            recipient=recipient,
            settings=settings,
            now=now,
        )
    return Refused(NoMatch("a data steward found no member for this request"), item.match_id)


def poll(
    session: Session,
    actor: Actor,
    match_id: str,
    *,
    recipient: OrgIdentifier | None,
    settings: Settings,
    today: date,
    now: datetime | None = None,
) -> MemberMatchResult | StillPending:
    """The status of an asynchronous $member-match: pending while a steward reviews it, then the
    final answer (a token reissued on each completed poll, earlier ones revoked). `recipient`:
    the caller's organisation, whose consent withdrawals the answer honours."""
    now = now or datetime.now(UTC)
    stored = repository.get_request(session, actor.tenant, match_id)
    decision = decisions.get_decision(session, actor.tenant, match_id)
    if stored is None or decision is None or stored.client_id != actor.client_id:
        raise NotFound("no member-match request with that id")
    consent = _consent_from(stored.consent, today)
    item = review_service.item_for_match(session, actor.tenant, match_id)
    result: MemberMatchResult
    if item is not None and item.status != "resolved":
        return StillPending(item.id)
    if item is not None:
        result = answer_after_review(session, actor, item, consent, recipient, settings, now)
    else:
        result = _answer_decision(session, actor, decision, consent, recipient, settings, now)
    audit_answer(session, actor, result, decision.policy_version)
    return result
