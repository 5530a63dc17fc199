"""Coverage status over real HTTP on both databases: a former member is still matched and the
evidence says when their coverage ended; $member-match answers with the status, and answers a
member past the policy's look-back as no match unless the policy discloses them."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.db import transaction
from identity.matching.policy import PolicyError, find_policy, parse_policy
from identity.member.service import LoadMode, load_members
from identity.models import MatchDecision
from identity.policy import service as policy_service
from tests.conftest import RULES_DIR, TENANT
from tests.exchange.conftest import hrex_11, param
from tests.exchange.test_member_match import URL, outcome_code, token_of
from tests.factories import fhir_coverage, fhir_patient

pytestmark = pytest.mark.usefixtures("example_member")
STATUS_URL = "urn:identity:coverage-status"


def _end_coverage(sessions: sessionmaker[Session], tmp_path: Path, end: date) -> None:
    """A delta: Patricia's coverage (HRex example member DH10001235) ended on `end`."""
    patricia = fhir_patient(
        "Patricia",
        "Person",
        "1974-12-25",
        gender="female",
        member_id="DH10001235",
        resource_id="pat-1",
        street="12 Elm Street",
        zip_code="02143",
    )
    coverage = {**fhir_coverage("S555", "Patient/pat-1"), "period": {"end": end.isoformat()}}
    path = tmp_path / "delta.ndjson"
    path.write_text(json.dumps(patricia) + "\n" + json.dumps(coverage) + "\n")
    with transaction(sessions) as session:
        assert load_members(session, TENANT, [path], mode=LoadMode.DELTA).ok


def _status_part(r: httpx.Response) -> str | None:
    token_of(r)
    extensions: list[dict[str, Any]] = param(r.json(), "MemberIdentifier").get("extension", [])
    return next((e["valueCode"] for e in extensions if e["url"] == STATUS_URL), None)


def _evidence(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        decision = session.scalars(
            select(MatchDecision).order_by(MatchDecision.created_at.desc())
        ).first()
        assert decision is not None
        assert decision.outcome == "match"  # matching keeps finding former members
        return dict(decision.evidence["coverage_status"])


def test_a_current_member_is_answered_with_status_current(
    new_payer: httpx.Client, sessions: sessionmaker[Session]
) -> None:
    assert _status_part(new_payer.post(URL, json=hrex_11())) == "current"
    assert _evidence(sessions)["members"]["DH10001235"] == "current"


def test_a_member_who_left_last_year_is_still_disclosed_with_the_status(
    new_payer: httpx.Client, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _end_coverage(sessions, tmp_path, date.today() - timedelta(days=365))
    assert _status_part(new_payer.post(URL, json=hrex_11())) == "ended-within-lookback"
    evidence = _evidence(sessions)
    assert evidence["members"]["DH10001235"] == "ended-within-lookback"
    assert (evidence["lookback_years"], evidence["past_lookback"]) == (5, "not_disclosed")


def test_a_member_past_the_lookback_is_answered_as_no_match(
    new_payer: httpx.Client, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _end_coverage(sessions, tmp_path, date.today() - timedelta(days=6 * 366))
    r = new_payer.post(URL, json=hrex_11())
    assert r.status_code == 422
    assert outcome_code(r) == "no-match"
    assert _evidence(sessions)["members"]["DH10001235"] == "ended-before-lookback"


def test_a_policy_that_discloses_former_members_answers_with_them(
    new_payer: httpx.Client, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _end_coverage(sessions, tmp_path, date.today() - timedelta(days=6 * 366))
    text = (RULES_DIR / "default.yaml").read_text()
    text = text.replace("past_lookback: not_disclosed", "past_lookback: disclosed")
    text = text.replace('label: "1.5.0"', 'label: "1.5.0-disclose"')
    with transaction(sessions) as session:
        policy_service.activate(session, TENANT, parse_policy(text))
    time.sleep(1.2)  # the service re-reads the active version once a second
    assert _status_part(new_payer.post(URL, json=hrex_11())) == "ended-before-lookback"


def test_the_policy_section_defaults_and_validation() -> None:
    default = find_policy(RULES_DIR, "default")
    section = default.source_text.index("coverage_status:")
    end = default.source_text.index("\n\n", section)
    without = default.source_text[:section] + default.source_text[end:]
    parsed = parse_policy(without)
    assert parsed.document.coverage_status == default.document.coverage_status
    assert parsed.version != default.version  # the section is part of the document's hash
    with pytest.raises(PolicyError, match="coverage_status"):
        parse_policy(default.source_text.replace("past_lookback: not_disclosed", "past: x"))
