"""Every stored decision names the engine it was made by (code, given-name tables, blocking
index), whether it was asked for alone or in a bulk batch."""

from __future__ import annotations

from datetime import date
from importlib import metadata

import pytest
from sqlalchemy.orm import Session, sessionmaker

import identity
from identity.db import transaction
from identity.matching.blocking import INDEX_VERSION
from identity.matching.engine_version import engine_version
from identity.matching.standardize import standardize
from identity.policy.cache import MatcherCache
from identity.resolution import batch, service
from identity.resolution.repository import get_decision
from tests.conftest import TENANT
from tests.factories import fhir_patient

TODAY = date(2026, 12, 7)


def test_the_engine_version_names_its_parts() -> None:
    version = engine_version()
    assert version["package"] == identity.__version__
    tables = version["name_tables"]
    assert tables["nicknames"] == metadata.version("nicknames")
    assert tables["diminutives.db"] == "caae757f"
    assert len(tables["data_sha256"]) == 12
    assert version["blocking_index"] == INDEX_VERSION
    version["package"] = "changed by a caller"
    assert engine_version()["package"] == identity.__version__  # each call a fresh copy


@pytest.mark.usefixtures("household")
def test_stored_evidence_names_the_engine_alone_and_in_bulk(
    sessions: sessionmaker[Session], active_policy: str
) -> None:
    body = {"patient": fhir_patient("Maria", "Garcia", "1984-03-12", gender="female")}
    raw = service.parse_match_request(body, TODAY)
    matchers = MatcherCache()
    with transaction(sessions) as session:
        alone = service.match(session, TENANT, matchers, raw, today=TODAY).decision.id
        matcher = matchers.for_tenant(session, TENANT)
        query = standardize(raw, today=TODAY)
        found, ends, _ = batch.retrieve_for(session, TENANT, matcher, [query])
        made = batch.decide(
            TENANT,
            matcher,
            query,
            found[0],
            ends=ends[0],
            today=TODAY,
            standardize_s=0,
            candidates_s=0,
        )
        batch.store(session, [made])
    with transaction(sessions) as session:
        for match_id in (alone, made.id):
            decision = get_decision(session, TENANT, match_id)
            assert decision is not None
            assert decision.evidence["engine"] == engine_version()
