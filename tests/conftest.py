"""Shared fixtures: real databases (SQLite and a throwaway PostgreSQL on loopback) built by the
migrations, and the real HTTP server.

PostgreSQL: the server binaries come from Debian's postgresql package, which the README's test
command installs when missing. If they are still missing the PostgreSQL tests fail (they are never
skipped): a green run must mean both databases were tested.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from identity.app import create_app
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction, upgrade
from identity.db_roles import grant_app_role
from identity.matching.policy import find_policy
from identity.policy import service as policy_service

REPO = Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "matching_rules"
TENANT = "test-payer"
APP_ROLE = "identity_app"
PUBLIC_URL = "https://identity.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found: run the README's test command, which installs "
            "Debian's postgresql package"
        )
    return found[-1]


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, so drop to the package's user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresServer:
    """A throwaway cluster in a temporary folder, listening on 127.0.0.1 only, trust auth."""

    user = "identity_test"  # the superuser, owner of every table

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            _as_postgres_user(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    self.user,
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories="
            f"{self.root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        subprocess.run(
            _as_postgres_user(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-w",
                    "-l",
                    str(self.root / "server.log"),
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres_user([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
        )

    def admin_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's tmp folder: that one is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="identity-pg-"))
    server = PostgresServer(root)
    server.start()
    try:
        template = "identity_template"
        server.execute(f"CREATE DATABASE {template}")
        upgrade(server.url(template))
        # The service runs as a role that owns nothing, so row-level security applies to it.
        # Grants live in the template and are copied into every test database made from it.
        server.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
        engine = create_engine(server.url(template))
        grant_app_role(engine, APP_ROLE)
        engine.dispose()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("sqlite")) / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A fresh, migrated database of each kind for every test that asks for one."""
    if request.param == "sqlite":
        path = tmp_path / "identity.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE identity_template")
    yield server.url(name)
    server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Signing keys shared by the whole run (RSA key generation is slow enough to matter)."""
    return Path(tmp_path_factory.mktemp("keys"))


def service_settings(database_url: str, key_dir: Path) -> Settings:
    """Settings for a test service: development tokens trusted, keys in the run's key folder."""
    return Settings(
        database_url=database_url,
        rules_dir=RULES_DIR,
        default_tenant=TENANT,
        log_json=True,
        public_url=PUBLIC_URL,
        signing_key_file=key_dir / "signing-key.pem",
        dev_auth=True,
        dev_key_file=key_dir / "dev-key.pem",
        data_key_file=key_dir / "data-key",
    )


@pytest.fixture
def settings(database_url: str, key_dir: Path) -> Settings:
    return service_settings(database_url, key_dir)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def active_policy(sessions: sessionmaker[Session]) -> str:
    policy = find_policy(RULES_DIR, "default")
    with transaction(sessions) as session:
        policy_service.activate(session, TENANT, policy)
    return policy.version


def as_app_role(settings: Settings) -> Settings:
    """The service's settings with PostgreSQL reached as the application role, as in production
    (the test fixtures themselves connect as the owner)."""
    url = settings.database_url
    if not url.startswith("postgresql") or f"//{PostgresServer.user}@" not in url:
        return settings
    return settings.model_copy(
        update={"database_url": url.replace(f"//{PostgresServer.user}@", f"//{APP_ROLE}@")}
    )


class ServerThread:
    """Any ASGI app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class LiveServer(ServerThread):
    """The real app under uvicorn in a thread, spoken to over real HTTP."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(create_app(as_app_role(settings)))

    def client(self, token: str | None = None) -> httpx.Client:
        """A client over real HTTP; with `token`, every request carries it as a bearer token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, timeout=30, headers=headers)


@pytest.fixture
def live_server(settings: Settings, active_policy: str) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def client(live_server: LiveServer, settings: Settings) -> Iterator[httpx.Client]:
    """Speaks for the test tenant with every scope (a development token)."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="test-client")
    with live_server.client(token) as c:
        yield c


# The household members most API tests match against (tests/households.py), and the run's one
# browser (tests/browser.py).
from tests.browser import browser  # noqa: E402
from tests.households import household  # noqa: E402

__all__ = ["browser", "household"]
