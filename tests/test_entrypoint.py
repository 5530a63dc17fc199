"""deploy/entrypoint.sh, the container's entrypoint, run outside Docker as the image runs it:
settings checked and keys made, migrations applied, a policy activated when asked, then the
command exec'd in the script's place; bad settings refused before anything is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from identity.db import current_revision, head_revision, make_session_factory, transaction
from identity.matching.policy import find_policy
from identity.policy import service as policy_service
from tests.conftest import APP_ROLE, REPO, RULES_DIR, TENANT, PostgresServer
from tests.test_container_files import as_in_the_service_image

SCRIPT = REPO / "deploy" / "entrypoint.sh"
CLI = Path(sys.executable).parent / "identity"
DEFAULT_VERSION = find_policy(RULES_DIR, "default").version
# The exec'd command: writes its own process id, so the test can tell exec from a child.
RECORD_PID = "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid()))"


def entrypoint_env(tmp: Path, database_url: str, **extra: str) -> dict[str, str]:
    """Only what the image sets, plus the test's folders: nothing inherited from this run; the
    training packages unimportable, as in the service image."""
    return {
        **as_in_the_service_image(tmp / "site"),
        "PATH": os.environ["PATH"],
        "HOME": str(tmp),
        "IDENTITY_PYTHON": sys.executable,
        "IDENTITY_CLI": str(CLI),
        "IDENTITY_RULES_DIR": str(RULES_DIR),
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_SIGNING_KEY_FILE": str(tmp / "data" / "keys" / "signing-key.pem"),
        "IDENTITY_DATA_KEY_FILE": str(tmp / "data" / "keys" / "data-key"),
        "IDENTITY_DEFAULT_TENANT": TENANT,
        "IDENTITY_LOG_JSON": "false",
        **extra,
    }


def run(env: dict[str, str], marker: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """The script with a command that records its pid; (the finished run, the script's pid)."""
    proc = subprocess.Popen(
        ["sh", str(SCRIPT), sys.executable, "-c", RECORD_PID, str(marker)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=180)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


def active_version(url: str, tenant: str) -> str | None:
    engine = create_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            return policy_service.active_policy_version(session, tenant)
    finally:
        engine.dispose()


def test_sqlite_migrates_makes_keys_activates_and_execs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'identity.db'}"
    marker = tmp_path / "pid"
    env = entrypoint_env(tmp_path, url, IDENTITY_ACTIVATE_POLICY="default")
    done, pid = run(env, marker)
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == str(pid)  # exec'd: the command is the entrypoint's process
    assert current_revision(create_engine(url)) == head_revision()
    assert active_version(url, TENANT) == DEFAULT_VERSION
    keys = tmp_path / "data" / "keys"
    for name in ("signing-key.pem", "data-key"):
        assert (keys / name).stat().st_mode & 0o077 == 0  # readable by the service user only
    signing_key = (keys / "signing-key.pem").read_bytes()

    # A restart: nothing to migrate, the policy already active, the same keys kept.
    marker.unlink()
    again, _ = run(env, marker)
    assert again.returncode == 0, again.stderr
    assert "already active" in again.stdout
    assert marker.exists()
    assert (keys / "signing-key.pem").read_bytes() == signing_key


def test_without_activation_no_policy_is_activated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'identity.db'}"
    done, _ = run(entrypoint_env(tmp_path, url), tmp_path / "pid")
    assert done.returncode == 0, done.stderr
    assert current_revision(create_engine(url)) == head_revision()
    assert active_version(url, TENANT) is None


def test_bad_settings_are_refused_by_name_before_anything_runs(tmp_path: Path) -> None:
    url = "postgresql+psycopg://owner:s3cret-pw@127.0.0.1:1/identity"
    env = entrypoint_env(tmp_path, url, IDENTITY_DB_POOL_SIZE="plenty")
    done, _ = run(env, tmp_path / "pid")
    assert done.returncode == 2
    assert "IDENTITY_DB_POOL_SIZE" in done.stderr
    assert "plenty" not in done.stderr  # no value echoed
    assert "s3cret-pw" not in done.stderr
    assert not (tmp_path / "pid").exists()
    assert not (tmp_path / "data").exists()  # not even the key folder


def test_a_data_folder_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    url = f"sqlite:///{tmp_path / 'data' / 'identity.db'}"
    done, _ = run(entrypoint_env(tmp_path, url), tmp_path / "pid")
    assert done.returncode == 2
    assert "IDENTITY_DATABASE_URL" in done.stderr
    assert not (tmp_path / "pid").exists()


def test_an_unknown_policy_stops_the_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'identity.db'}"
    env = entrypoint_env(tmp_path, url, IDENTITY_ACTIVATE_POLICY="no-such-policy")
    done, _ = run(env, tmp_path / "pid")
    assert done.returncode != 0
    assert "not activated" in done.stderr
    assert not (tmp_path / "pid").exists()


def test_no_command_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'identity.db'}"
    done = subprocess.run(
        ["sh", str(SCRIPT)], env=entrypoint_env(tmp_path, url), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "no command" in done.stderr


def test_postgresql_migrates_as_owner_and_grants_the_service_role(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    name = f"e_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"CREATE DATABASE {name}")  # empty: the entrypoint builds the schema
    try:
        owner_url = postgres.url(name)
        env = entrypoint_env(
            tmp_path, owner_url, IDENTITY_APP_ROLE=APP_ROLE, IDENTITY_ACTIVATE_POLICY="default"
        )
        done, pid = run(env, tmp_path / "pid")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "pid").read_text() == str(pid)
        # The service's role reads the tenant's active policy through row-level security.
        app_url = owner_url.replace(f"//{PostgresServer.user}@", f"//{APP_ROLE}@")
        engine = create_engine(app_url)
        try:
            factory = make_session_factory(engine)
            with transaction(factory) as session:
                from identity.db import bind_tenant

                bind_tenant(session, TENANT)
                assert policy_service.active_policy_version(session, TENANT) == DEFAULT_VERSION
        finally:
            engine.dispose()
    finally:
        postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.parametrize("flag", ["0"])
def test_replicas_skip_migrations(tmp_path: Path, flag: str) -> None:
    """IDENTITY_MIGRATE=0 (the service replicas in compose.yaml): the schema is left as found."""
    url = f"sqlite:///{tmp_path / 'data' / 'identity.db'}"
    done, _ = run(entrypoint_env(tmp_path, url, IDENTITY_MIGRATE=flag), tmp_path / "pid")
    assert done.returncode == 0, done.stderr
    assert current_revision(create_engine(url)) is None
