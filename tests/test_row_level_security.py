"""PostgreSQL row-level security, seen as the application role the service runs as: without a
tenant it sees nothing, with one it sees and writes only that tenant's rows, and it can append
audit events but never change them. (RLS is PostgreSQL's; SQLite relies on tenant-scoped queries,
which the cross-tenant matrix covers on both databases.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from identity.db import bind_tenant, make_session_factory, transaction
from identity.member.service import load_members
from identity.models import Member
from tests.conftest import APP_ROLE, PostgresServer
from tests.factories import fhir_patient


@pytest.fixture
def pg_database(postgres: PostgresServer) -> Iterator[str]:
    name = f"rls_{uuid.uuid4().hex[:10]}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE identity_template")
    yield name
    postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def owner(postgres: PostgresServer, pg_database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(postgres.url(pg_database))
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def app_role(postgres: PostgresServer, pg_database: str) -> Iterator[sessionmaker[Session]]:
    url = postgres.url(pg_database).replace(f"//{PostgresServer.user}@", f"//{APP_ROLE}@")
    engine = create_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def two_tenants(owner: sessionmaker[Session], tmp_path: Path) -> None:
    for tenant, given in (("payer-a", "Ana"), ("payer-b", "Bea")):
        path = tmp_path / f"{tenant}.ndjson"
        path.write_text(json.dumps(fhir_patient(given, "Ruiz", "1990-05-06", member_id="M1")))
        with transaction(owner) as session:
            assert load_members(session, tenant, [path]).ok


def _members(session: Session) -> set[tuple[str, str]]:
    return {(m.tenant_id, m.member_id) for m in session.scalars(select(Member))}


@pytest.mark.usefixtures("two_tenants")
def test_the_application_role_sees_only_its_tenant(app_role: sessionmaker[Session]) -> None:
    with app_role() as session:
        assert _members(session) == set()  # no tenant named: nothing
    with app_role() as session:
        bind_tenant(session, "payer-a")
        assert _members(session) == {("payer-a", "M1")}
        # Even a query that forgets its tenant filter cannot reach another tenant.
        assert session.scalar(select(func.count()).select_from(Member)) == 1


@pytest.mark.usefixtures("two_tenants")
def test_the_application_role_cannot_write_into_another_tenant(
    app_role: sessionmaker[Session],
) -> None:
    move = text("UPDATE member SET tenant_id = 'payer-b' WHERE tenant_id = 'payer-a'")
    with app_role() as session:
        bind_tenant(session, "payer-a")
        with pytest.raises(ProgrammingError, match="row-level security"):
            session.execute(move)


def test_the_application_role_owns_nothing_and_cannot_rewrite_the_audit_trail(
    app_role: sessionmaker[Session], owner: sessionmaker[Session]
) -> None:
    with owner() as session:
        owners = set(
            session.scalars(
                text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
            )
        )
    assert APP_ROLE not in owners
    for statement in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"):
        with app_role() as session:
            bind_tenant(session, "payer-a")
            with pytest.raises(DBAPIError, match="permission denied"):
                session.execute(text(statement))
