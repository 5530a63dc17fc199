"""A member's lifecycle by name, on both databases: the `member_lifecycle` view (migration 0021)
gives the last covered day of everyone who left — by a coverage end in the file, a delta's
leaver, a snapshot's absentee, a termination — and the erasure time while a record is erased; a
reinstatement or a reload clears them. The migration's backfill and downgrade are exercised."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker

from identity.audit.actor import Actor
from identity.config import Settings
from identity.db import downgrade, make_engine, transaction, upgrade
from identity.member import lifecycle
from identity.member.erase import erase_members
from identity.member.lifecycle_repository import lifecycle as read_lifecycle
from identity.member.service import LoadMode, load_members
from identity.policy import service as policy_service
from tests.conftest import TENANT
from tests.factories import fhir_coverage, fhir_patient
from tests.policy.test_published import _edited

ACTOR = Actor(tenant=TENANT, client_id="ops", request_id=None)
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
IDS = ["A", "B", "C", "D", "E"]


def _person(member_id: str, given: str, *, active: bool = True) -> dict[str, Any]:
    patient = fhir_patient(
        given, "Okonjo", "1970-01-01", member_id=member_id, resource_id=member_id
    )
    return patient if active else {**patient, "active": False}


def _file(path: Path, resources: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def _load(sessions: sessionmaker[Session], path: Path, mode: LoadMode, on: date) -> None:
    with transaction(sessions) as session:
        assert load_members(session, TENANT, [path], mode=mode, as_of=on).ok


def _view(sessions: sessionmaker[Session]) -> dict[str, tuple[date | None, bool]]:
    with sessions() as session:
        found = read_lifecycle(session, TENANT, IDS)
    return {m: (ended, erased is not None) for m, (ended, erased) in found.items()}


def test_the_view_names_who_left_and_whose_data_was_erased(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ended_in_file = {**fhir_coverage("SB", "Patient/B"), "period": {"end": "2025-06-30"}}
    everyone = [
        _person("A", "Ada"),
        fhir_coverage("SA", "Patient/A"),
        _person("B", "Bea"),
        ended_in_file,
        _person("C", "Cal"),  # no coverage on file: nothing says they left
        _person("D", "Dov"),
        fhir_coverage("SD", "Patient/D"),
        _person("E", "Eli"),
        fhir_coverage("SE", "Patient/E"),
    ]
    _load(sessions, _file(tmp_path / "jan.ndjson", everyone), LoadMode.SNAPSHOT, JAN)
    assert _view(sessions) == {
        "A": (None, False),
        "B": (date(2025, 6, 30), False),
        "C": (None, False),
        "D": (None, False),
        "E": (None, False),
    }

    leaver = [_person("D", "Dov", active=False), fhir_coverage("SD", "Patient/D")]
    _load(sessions, _file(tmp_path / "feb.ndjson", leaver), LoadMode.DELTA, FEB)
    # March's snapshot lists A, B and C only: E is terminated, D (gone already) is left alone.
    _load(sessions, _file(tmp_path / "mar.ndjson", everyone[:5]), LoadMode.SNAPSHOT, MAR)
    with transaction(sessions) as session:
        lifecycle.terminate(session, ACTOR, "A", date(2026, 4, 1))
        erase_members(session, ACTOR, ["C"], datetime.now(UTC))
    assert _view(sessions) == {
        "A": (date(2026, 3, 31), False),
        "B": (date(2025, 6, 30), False),
        "C": (None, True),
        "D": (date(2026, 1, 31), False),
        "E": (date(2026, 2, 28), False),
    }

    # A reinstatement opens coverage again; a reload of C's line brings the record back.
    with transaction(sessions) as session:
        change = lifecycle.reinstate(session, ACTOR, "A", date(2026, 5, 1))
    assert (change.changed, change.terminated_on) == (True, None)
    _load(sessions, _file(tmp_path / "c.ndjson", [_person("C", "Cal")]), LoadMode.DELTA, MAR)
    view = _view(sessions)
    assert (view["A"], view["C"]) == ((None, False), (None, False))


def test_the_erasure_time_is_recorded_and_backfilled(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _load(
        sessions,
        _file(tmp_path / "m.ndjson", [_person("A", "Ada"), _person("B", "Bea")]),
        LoadMode.DELTA,
        JAN,
    )
    before = datetime.now(UTC) - timedelta(seconds=5)
    with transaction(sessions) as session:
        erase_members(session, ACTOR, ["A"], datetime.now(UTC))
    _, erased = _read(sessions, ["A"])["A"]
    assert erased is not None
    assert (erased if erased.tzinfo else erased.replace(tzinfo=UTC)) >= before

    # Erased before the column existed: the backfill gives the record's last update.
    engine = make_engine(settings)
    downgrade(settings.database_url, "0020")
    assert "erased_at" not in {c["name"] for c in inspect(engine).get_columns("member")}
    assert "member_lifecycle" not in inspect(engine).get_view_names()
    upgrade(settings.database_url)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT member_id, erased_at = updated_at FROM member "
                    "WHERE tenant_id = :t ORDER BY member_id"
                ),
                {"t": TENANT},
            ).all()
        )
    engine.dispose()
    assert {m: None if v is None else bool(v) for m, v in rows.items()} == {"A": True, "B": None}
    assert {m: erased is not None for m, (_, erased) in _read(sessions, ["A", "B"]).items()} == {
        "A": True,
        "B": False,
    }


def _read(
    sessions: sessionmaker[Session], ids: list[str]
) -> dict[str, tuple[date | None, datetime | None]]:
    with sessions() as session:
        return read_lifecycle(session, TENANT, ids)


def test_a_change_reports_coverage_status_under_the_active_policys_look_back(
    sessions: sessionmaker[Session], tmp_path: Path, active_policy: str
) -> None:
    ended = {**fhir_coverage("SB", "Patient/B"), "period": {"end": "2025-06-30"}}
    _load(sessions, _file(tmp_path / "b.ndjson", [_person("B", "Bea"), ended]), LoadMode.DELTA, JAN)
    later = date(2031, 1, 1)  # five and a half years after the last covered day
    with transaction(sessions) as session:
        under_five = lifecycle.terminate(session, ACTOR, "B", later)
    longer = _edited("9.9.6-lookback", {"lookback_years: 5": "lookback_years: 10"})
    with transaction(sessions) as session:
        policy_service.activate(session, TENANT, longer)
    with transaction(sessions) as session:
        under_ten = lifecycle.terminate(session, ACTOR, "B", later)
    assert (under_five.changed, under_five.status) == (False, "ended-before-lookback")
    assert (under_ten.changed, under_ten.status) == (False, "ended-within-lookback")
    assert under_five.terminated_on == under_ten.terminated_on == date(2025, 6, 30)
