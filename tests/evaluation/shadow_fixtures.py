"""Stored decisions for the shadow, activation and steward-label tests: a small master, five
requests decided under the default policy, and candidate policies that decide them otherwise.

Under the default policy (match at 0.97, review from 0.60):
  mara     Mara Garcia, a near spelling and another birth year, by phone: match M1 (p 0.9996)
  trish    Trish Pearson with an unknown card: review band (p 0.95), Patricia Person is not her
  pat      Patricia Persson: match M4 (p 0.9998)
  jordan   Jordan Okafor: certain by rule (M2)
  mara2    Mara Garcia again, without the phone: review band (p 0.71), she is M1
STRICT (match at 0.9999999) reviews every probabilistic match; LOOSE (match at 0.65) matches
both review-band requests, one of them to the wrong person. (The probabilities move as the
model does; the fixture checks the premises the tests rest on.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.db import transaction
from identity.matching.policy import Policy, parse_policy
from identity.models import MatchDecision
from identity.policy.cache import MatcherCache
from identity.resolution import service
from tests.conftest import RULES_DIR, TENANT
from tests.factories import fhir_coverage, fhir_patient
from tests.households import HOME, garcia_okafor, load_resources

TODAY = date(2026, 11, 22)
_DEFAULT = (RULES_DIR / "default.yaml").read_text()
_LABEL = 'label: "1.5.0"'


def variant(label: str, match_probability: str) -> Policy:
    assert _LABEL in _DEFAULT
    assert "match_probability: 0.97" in _DEFAULT
    text = _DEFAULT.replace(_LABEL, f'label: "{label}"').replace(
        "match_probability: 0.97", f"match_probability: {match_probability}"
    )
    return parse_policy(text, source=label)


STRICT = variant("strict-1", "0.9999999")
LOOSE = variant("loose-1", "0.65")

REQUESTS = {
    "mara": {
        "patient": fhir_patient("Mara", "Garcia", "1985-03-12", gender="female", phone="6175552368")
    },
    "trish": {
        "patient": fhir_patient("Trish", "Pearson", "1974-12-25", gender="female"),
        "coverage": fhir_coverage("UNKNOWN-CARD"),
    },
    "pat": {
        "patient": fhir_patient(
            "Patricia", "Persson", "1974-12-25", gender="female", zip_code="02143"
        )
    },
    "jordan": {"patient": fhir_patient("Jordan", "Okafor", "2011-07-30", **HOME)},
    "mara2": {"patient": fhir_patient("Mara", "Garcia", "1985-03-12", gender="female")},
}


@dataclass(frozen=True)
class Stored:
    match_id: str
    outcome: str
    member_id: str | None
    review_item_id: str | None


def load_master(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    resources = [
        *garcia_okafor(),
        fhir_patient(
            "Patricia",
            "Person",
            "1974-12-25",
            gender="female",
            member_id="M4",
            resource_id="p4",
            street="12 Elm Street",
            zip_code="02143",
        ),
        fhir_coverage("S555", "Patient/p4"),
    ]
    load_resources(sessions, tmp_path / "shadow-master.ndjson", resources)


@pytest.fixture
def stored(
    sessions: sessionmaker[Session], tmp_path: Path, active_policy: str
) -> dict[str, Stored]:
    """The five requests decided and stored under the default policy (active)."""
    load_master(sessions, tmp_path)
    matchers = MatcherCache()
    found = {}
    for name, body in REQUESTS.items():
        with transaction(sessions) as session:
            raw = service.parse_match_request(body, TODAY)
            result = service.match(session, TENANT, matchers, raw, today=TODAY)
            d = result.decision
            found[name] = Stored(d.id, d.outcome, d.member_id, result.review_item_id)
    expected = {
        "mara": ("match", "M1"),
        "trish": ("review", None),
        "pat": ("match", "M4"),
        "jordan": ("match", "M2"),
        "mara2": ("review", None),
    }
    assert {k: (v.outcome, v.member_id) for k, v in found.items()} == expected
    # The premise of LOOSE: both reviews are above its match threshold.
    with sessions() as session:
        for name in ("trish", "mara2"):
            decision = session.get(MatchDecision, found[name].match_id)
            assert decision is not None
            assert decision.probability is not None
            assert decision.probability > LOOSE.document.decision.match_probability
    return found


def settle(
    sessions: sessionmaker[Session], item_id: str | None, kind: str, member: str | None = None
) -> None:
    """A steward settles the item (the review service, as the workbench does)."""
    from identity.audit.actor import Actor
    from identity.review import service as review

    assert item_id is not None
    steward = Actor(tenant=TENANT, client_id=None, request_id=None, person="ana")
    with transaction(sessions) as session:
        review.decide(
            session,
            steward,
            item_id,
            review.StewardDecision(kind, member),
            role=review.Role.STEWARD,
            now=datetime.now(UTC),
        )


@pytest.fixture
def settled(sessions: sessionmaker[Session], stored: dict[str, Stored]) -> dict[str, Stored]:
    """Stewards settled both reviews: Trish Pearson is a new person (not Patricia Person);
    Mara Garcia without her phone is M1."""
    settle(sessions, stored["trish"].review_item_id, "new_person")
    settle(sessions, stored["mara2"].review_item_id, "link", "M1")
    return stored
