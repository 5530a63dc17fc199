"""Match tokens in the service layer, on both databases: what is stored, when a token is active,
who may revoke it, and what the audit trail says (token ids, never tokens)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.clients import service as clients_service
from identity.consent.evaluate import ConsentDecision
from identity.db import bind_tenant, transaction
from identity.models import AuditEvent, MatchToken
from identity.tokens import service
from tests.auth.forge import ClientKey
from tests.conftest import TENANT
from tests.tokens.factories import POLICY_VERSION, consent, issue_token

OTHER = "other-payer"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
FHIR_SERVER = Actor(tenant=TENANT, client_id="fhir-server", request_id="req-fs")


def utc(moment: datetime) -> datetime:
    """SQLite returns stored times without their zone; they were stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def introspect(
    sessions: sessionmaker[Session], token: str, actor: Actor = FHIR_SERVER, now: datetime = NOW
) -> dict[str, object]:
    with transaction(sessions) as session:
        bind_tenant(session, actor.tenant)
        return service.introspect(session, actor, token, now=now)


def events(sessions: sessionmaker[Session], action: str, tenant: str = TENANT) -> list[AuditEvent]:
    with transaction(sessions) as session:
        bind_tenant(session, tenant)
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant, AuditEvent.action == action)
                .order_by(AuditEvent.seq)
            )
        )


def test_a_token_is_opaque_random_and_stored_only_as_its_hash(
    sessions: sessionmaker[Session],
) -> None:
    issued = issue_token(sessions, member_id="M-4711", patient_id="p-4711", now=NOW)
    other = issue_token(sessions, member_id="M-4711", patient_id="p-4711", now=NOW)
    assert issued.token != other.token
    assert issued.token.startswith("mt_")
    assert len(issued.token) - 3 >= 43  # 32 bytes, base64url: 256 bits
    assert "4711" not in issued.token
    with transaction(sessions) as session:
        dump = " ".join(
            str(value)
            for row in session.execute(text("SELECT * FROM match_token"))
            for value in row
        )
        row = session.get(MatchToken, issued.token_id)
    assert issued.token not in dump
    assert issued.token[3:] not in dump
    assert row is not None
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert (row.tenant_id, row.client_id, row.member_id, row.patient_id) == (
        TENANT,
        "payer-a",
        "M-4711",
        "p-4711",
    )
    assert (row.consent_category, row.consent_start, row.consent_end) == (
        "regular",
        date(2026, 1, 1),
        date(2030, 12, 31),
    )
    assert row.policy_version == POLICY_VERSION


# (max lifetime, consent end) -> expiry: whichever comes first; a consent covers its last day.
EXPIRY = [
    ("lifetime first", timedelta(hours=1), date(2030, 12, 31), NOW + timedelta(hours=1)),
    (
        "consent ends today",
        timedelta(days=30),
        date(2026, 6, 15),
        datetime(2026, 6, 16, tzinfo=UTC),
    ),
    (
        "consent ends in a week",
        timedelta(days=30),
        date(2026, 6, 22),
        datetime(2026, 6, 23, tzinfo=UTC),
    ),
    ("open-ended consent", timedelta(days=30), None, NOW + timedelta(days=30)),
]


@pytest.mark.parametrize(
    ("case", "lifetime", "end", "expires"), EXPIRY, ids=[row[0] for row in EXPIRY]
)
def test_expiry_is_the_earlier_of_lifetime_and_consent_end(
    sessions: sessionmaker[Session],
    case: str,
    lifetime: timedelta,
    end: date | None,
    expires: datetime,
) -> None:
    decision = ConsentDecision(True, None, "regular", date(2026, 1, 1), end)
    issued = issue_token(sessions, decision=decision, now=NOW, lifetime=lifetime)
    assert issued.expires_at == expires, case
    assert introspect(sessions, issued.token, now=expires - timedelta(seconds=1))["active"]
    assert introspect(sessions, issued.token, now=expires) == {"active": False}


@pytest.mark.parametrize(
    ("decision", "lifetime"),
    [
        (ConsentDecision(False, "expired", "regular", None, date(2026, 1, 1)), timedelta(hours=1)),
        (consent(end=date(2026, 6, 14)), timedelta(hours=1)),  # over before now
        (consent(), timedelta(0)),
    ],
)
def test_issue_refuses_what_it_must_never_issue(
    sessions: sessionmaker[Session], decision: ConsentDecision, lifetime: timedelta
) -> None:
    with pytest.raises(ValueError, match=r"consent|lifetime"):
        issue_token(sessions, decision=decision, now=NOW, lifetime=lifetime)


def test_introspection_of_an_active_token(sessions: sessionmaker[Session]) -> None:
    issued = issue_token(sessions, category="sensitive", decision_id="dec-1", now=NOW)
    answer = introspect(sessions, issued.token)
    assert answer == {
        "active": True,
        "token_type": "match_token",
        "jti": issued.token_id,
        "client_id": "payer-a",
        "scope": "sensitive",
        "iat": int(NOW.timestamp()),
        "exp": int(issued.expires_at.timestamp()),
        "member_id": "M1",
        "patient_id": "p1",
        "consent_category": "sensitive",
        "consent_period": {"start": "2026-01-01", "end": "2030-12-31"},
        "decision_id": "dec-1",
        "policy_version": POLICY_VERSION,
    }


def test_no_consent_sent_means_regular(sessions: sessionmaker[Session]) -> None:
    issued = issue_token(sessions, decision=ConsentDecision(True, None, None, None, None), now=NOW)
    answer = introspect(sessions, issued.token)
    assert (answer["scope"], answer["consent_period"]) == ("regular", {"start": None, "end": None})


def test_inactive_tokens_all_look_alike(sessions: sessionmaker[Session]) -> None:
    mine = issue_token(sessions, now=NOW)
    theirs = issue_token(sessions, tenant=OTHER, now=NOW)
    expired = issue_token(sessions, now=NOW - timedelta(hours=2))
    revoked = issue_token(sessions, now=NOW)
    with transaction(sessions) as session:
        bind_tenant(session, TENANT)
        service.revoke(session, Actor(TENANT, "payer-a", None), revoked.token, now=NOW)
    for token in (
        theirs.token,  # another tenant's
        expired.token,
        revoked.token,
        "mt_" + "A" * 43,  # unknown
        "not-even-ours",
        mine.token + "x",
        "mt_" + "A" * 500,
    ):
        assert introspect(sessions, token) == {"active": False}
    assert introspect(sessions, mine.token)["active"] is True
    # The other tenant's resource server sees its own token, and not ours.
    other_fhir = Actor(OTHER, "their-fhir-server", None)
    assert introspect(sessions, theirs.token, actor=other_fhir)["active"] is True
    assert introspect(sessions, mine.token, actor=other_fhir) == {"active": False}


def test_a_disabled_clients_tokens_are_inactive_at_once(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        client = clients_service.register(
            session, tenant=TENANT, name="New Payer", jwks=ClientKey().jwks(), scopes="match"
        )
    issued = issue_token(sessions, client_id=client.client_id, now=NOW)
    assert introspect(sessions, issued.token)["active"] is True
    with transaction(sessions) as session:
        clients_service.disable(session, client.client_id)
    assert introspect(sessions, issued.token) == {"active": False}


def test_introspection_is_audited_by_token_id_never_the_token(
    sessions: sessionmaker[Session],
) -> None:
    issued = issue_token(sessions, now=NOW)
    introspect(sessions, issued.token)
    introspect(sessions, "mt_unknown")
    (issue_event,) = events(sessions, "token.issue")
    assert (issue_event.outcome, issue_event.object_ids) == ("success", [issued.token_id])
    assert issue_event.policy_version == POLICY_VERSION
    active, unknown = events(sessions, "token.introspect")
    assert (active.client_id, active.outcome, active.object_ids) == (
        "fhir-server",
        "success",
        [issued.token_id],
    )
    assert (unknown.outcome, unknown.object_ids) == ("not-found", [])
    with transaction(sessions) as session:
        trail = " ".join(
            str(value)
            for row in session.execute(text("SELECT * FROM audit_event"))
            for value in row
        )
    assert issued.token not in trail


# who revokes whose token -> revoked?, the audited outcome
REVOCATIONS = [
    ("the holder, its own", "payer-a", False, True, "success"),
    ("another client, without tenant rights", "payer-b", False, False, "forbidden"),
    ("a resource server or admin of the tenant", "fhir-server", True, True, "success"),
]


@pytest.mark.parametrize(
    ("case", "caller", "any_client", "revoked", "outcome"),
    REVOCATIONS,
    ids=[row[0] for row in REVOCATIONS],
)
def test_who_may_revoke(
    sessions: sessionmaker[Session],
    case: str,
    caller: str,
    any_client: bool,
    revoked: bool,
    outcome: str,
) -> None:
    issued = issue_token(sessions, client_id="payer-a", now=NOW)
    with transaction(sessions) as session:
        bind_tenant(session, TENANT)
        service.revoke(session, Actor(TENANT, caller, None), issued.token, any_client=any_client)
    assert introspect(sessions, issued.token)["active"] is not revoked, case
    (event,) = events(sessions, "token.revoke")
    assert (event.client_id, event.outcome, event.object_ids) == (
        caller,
        outcome,
        [issued.token_id],
    )


def test_revoking_twice_or_an_unknown_token_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    issued = issue_token(sessions, now=NOW)
    holder = Actor(TENANT, "payer-a", None)
    for token in (issued.token, issued.token, "mt_never-issued"):
        with transaction(sessions) as session:
            bind_tenant(session, TENANT)
            service.revoke(session, holder, token, now=NOW)
    with transaction(sessions) as session:
        row = session.get(MatchToken, issued.token_id)
        assert row is not None
        assert row.revoked_at is not None
        assert (utc(row.revoked_at), row.revoked_reason) == (NOW, "holder-revoked")
    assert [e.outcome for e in events(sessions, "token.revoke")] == [
        "success",
        "success",
        "not-found",
    ]


def test_revoke_for_decision_and_for_member(sessions: sessionmaker[Session]) -> None:
    a1 = issue_token(sessions, member_id="M1", decision_id="dec-1", now=NOW)
    a2 = issue_token(sessions, member_id="M1", decision_id="dec-2", now=NOW)
    b = issue_token(sessions, member_id="M2", decision_id="dec-3", now=NOW)
    theirs = issue_token(sessions, tenant=OTHER, member_id="M1", decision_id="dec-1", now=NOW)
    steward = Actor(TENANT, "steward-ui", "req-unlink")
    with transaction(sessions) as session:
        bind_tenant(session, TENANT)
        assert service.revoke_for_decision(session, steward, "dec-1", now=NOW) == [a1.token_id]
        assert service.revoke_for_decision(session, steward, "dec-1", now=NOW) == []
    assert introspect(sessions, a1.token) == {"active": False}
    assert introspect(sessions, a2.token)["active"] is True
    with transaction(sessions) as session:
        bind_tenant(session, TENANT)
        assert service.revoke_for_member(session, steward, "M1", "consent-withdrawn", now=NOW) == [
            a2.token_id
        ]
    assert introspect(sessions, a2.token) == {"active": False}
    assert introspect(sessions, b.token)["active"] is True
    # Another tenant's member M1 is another person: untouched.
    assert introspect(sessions, theirs.token, actor=Actor(OTHER, "fs", None))["active"] is True
    with transaction(sessions) as session:
        reasons = {r.id: r.revoked_reason for r in session.scalars(select(MatchToken))}
    assert (reasons[a1.token_id], reasons[a2.token_id]) == (
        "decision-unlinked",
        "consent-withdrawn",
    )
    # One event per sweep that revoked something.
    assert [e.object_ids for e in events(sessions, "token.revoke")] == [
        [a1.token_id],
        [a2.token_id],
    ]


@pytest.mark.parametrize("reason", ["", "Consent Withdrawn", "jane.doe@example.org", "x" * 40])
def test_a_revocation_reason_is_a_code(sessions: sessionmaker[Session], reason: str) -> None:
    with transaction(sessions) as session, pytest.raises(ValueError, match="code"):
        service.revoke_for_member(session, Actor(TENANT, None, None), "M1", reason)
