"""The server's SQLite WAL checkpoints (identity/sqlite_checkpoint.py): its connections never
checkpoint inside a commit, its own thread copies the log into the database file, and it stops
with the server. Command-line engines and PostgreSQL are left as they were."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from identity import sqlite_checkpoint
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import make_engine
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_patient


def _autocheckpoint(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_served_sqlite_is_checkpointed_by_the_servers_thread_not_by_commits(
    settings: Settings, active_policy: str, household: None
) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="checkpoints")
    with LiveServer(settings) as server:
        app: Any = server.server.config.app
        checkpointer = app.state.checkpointer
        assert checkpointer is not None
        assert _autocheckpoint(app.state.engine) == 0  # commits never checkpoint
        with server.client(token) as http:
            for i in range(12):
                body = {"patient": fhir_patient("Ana", f"Zed{i}", f"1970-01-0{1 + i % 9}")}
                assert http.post("/v1/match", json=body).status_code == 200
        rounds = checkpointer.rounds
        deadline = time.monotonic() + 10
        while checkpointer.rounds < rounds + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.rounds >= rounds + 2  # it keeps running while the server does
        last = checkpointer.last
        assert last is not None
        assert last.log_frames > 0  # the requests' writes were in the log
        assert last.checkpointed == last.log_frames  # and all of them are in the file now
        thread = checkpointer._thread
    assert not thread.is_alive()  # stopped with the server


def test_command_line_engines_keep_sqlites_own_checkpoints(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        if engine.dialect.name == "sqlite":
            assert _autocheckpoint(engine) == 1000  # SQLite's default: its commits checkpoint
        else:  # PostgreSQL, even for a server: nothing of this applies
            served = make_engine(settings, checkpoints_elsewhere=True)
            assert sqlite_checkpoint.start_for(served) is None
            served.dispose()
    finally:
        engine.dispose()


def test_only_a_sqlite_file_gets_a_checkpointer(tmp_path: Path) -> None:
    in_memory = make_engine(Settings(database_url="sqlite://"), checkpoints_elsewhere=True)
    assert sqlite_checkpoint.start_for(in_memory) is None
    in_memory.dispose()
    path = tmp_path / "file.db"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    on_file = make_engine(Settings(database_url=f"sqlite:///{path}"), checkpoints_elsewhere=True)
    checkpointer = sqlite_checkpoint.start_for(on_file)
    try:
        assert checkpointer is not None
        assert _autocheckpoint(on_file) == 0
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        on_file.dispose()
