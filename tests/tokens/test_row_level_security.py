"""PostgreSQL: the application role sees and revokes only its tenant's match tokens, and cannot
delete any (a token's row outlives it, for the audit trail)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from identity.db import bind_tenant, make_session_factory, transaction
from identity.models import MatchToken
from tests.conftest import APP_ROLE, PostgresServer
from tests.tokens.factories import issue_token


@pytest.fixture
def databases(
    postgres: PostgresServer,
) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    name = f"rls_{uuid.uuid4().hex[:10]}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE identity_template")
    owner = create_engine(postgres.url(name))
    app = create_engine(postgres.url(name).replace(f"//{PostgresServer.user}@", f"//{APP_ROLE}@"))
    yield make_session_factory(owner), make_session_factory(app)
    owner.dispose()
    app.dispose()
    postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_match_tokens_are_isolated_by_tenant(
    databases: tuple[sessionmaker[Session], sessionmaker[Session]],
) -> None:
    owner, app = databases
    issue_token(owner, tenant="payer-a")
    issue_token(owner, tenant="payer-b")
    with app() as session:
        assert session.scalar(select(func.count()).select_from(MatchToken)) == 0
    with app() as session:
        bind_tenant(session, "payer-a")
        assert set(session.scalars(select(MatchToken.tenant_id))) == {"payer-a"}
    with transaction(app) as session:
        bind_tenant(session, "payer-a")
        # An unfiltered revocation reaches only the tenant's own rows.
        session.execute(text("UPDATE match_token SET revoked_at = now()"))
    with owner() as session:
        revoked = dict(
            session.execute(select(MatchToken.tenant_id, MatchToken.revoked_at.is_not(None))).all()
        )
    assert revoked == {"payer-a": True, "payer-b": False}
    with app() as session:
        bind_tenant(session, "payer-a")
        with pytest.raises(DBAPIError, match="permission denied"):
            session.execute(text("DELETE FROM match_token"))
