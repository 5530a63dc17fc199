"""`identity audit verify`, run as an operator runs it (a subprocess), on both databases."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from tests.audit.conftest import OTHER_TENANT, Recorded, as_db_owner
from tests.conftest import TENANT
from tests.test_cli import run


def test_verify_an_empty_trail(settings: Settings) -> None:
    result = run(settings, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audit chain intact: 0 events in 0 tenants"


def test_verify_intact_then_broken(
    settings: Settings, sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    intact = run(settings, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.strip() == "audit chain intact: 8 events in 2 tenants"
    one = run(settings, "audit", "verify", "--tenant", OTHER_TENANT)
    assert one.stdout.strip() == "audit chain intact: 2 events in 1 tenants"

    as_db_owner(
        sessions, "UPDATE audit_event SET outcome = 'denied' WHERE id = :id", id=recorded.id_at(4)
    )
    broken = run(settings, "audit", "verify")
    assert broken.returncode == 1
    assert broken.stdout == ""
    assert (
        f"tenant {TENANT}: first bad event is seq 4 (id {recorded.id_at(4)}): "
        "its hash does not match its content"
    ) in broken.stderr
    assert "audit chain broken in 1 of 2 tenants" in broken.stderr
    # The other tenant's chain is untouched and still verifies on its own.
    assert run(settings, "audit", "verify", "--tenant", OTHER_TENANT).returncode == 0


def test_verify_names_a_missing_tail(
    settings: Settings, sessions: sessionmaker[Session], recorded: Recorded
) -> None:
    as_db_owner(sessions, "DELETE FROM audit_event WHERE id = :id", id=recorded.id_at(6))
    result = run(settings, "audit", "verify", "--tenant", TENANT)
    assert result.returncode == 1
    assert "first bad event is seq 6 (missing): the chain head is at seq 6" in result.stderr
