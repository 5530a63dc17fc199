"""kill -9 during group commits loses nothing acknowledged: the real server in a process of its
own, loaded by concurrent clients, killed with SIGKILL mid-load and started again; every match id
it answered 200 for is stored, with its audit event, and the chain verifies (both databases)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.models import AuditEvent, MatchDecision
from tests.conftest import TENANT, as_app_role, free_port
from tests.factories import fhir_patient

CLIENTS = 8
ACKNOWLEDGED_BEFORE_KILL = 60  # the load runs until this many answers came back, then dies


def _env(settings: Settings) -> dict[str, str]:
    served = as_app_role(settings)
    return {
        **os.environ,
        "IDENTITY_DATABASE_URL": served.database_url,
        "IDENTITY_RULES_DIR": str(served.rules_dir),
        "IDENTITY_DEFAULT_TENANT": TENANT,
        "IDENTITY_DEV_AUTH": "true",
        "IDENTITY_DEV_KEY_FILE": str(served.dev_key_file),
        "IDENTITY_SIGNING_KEY_FILE": str(served.signing_key_file),
        "IDENTITY_DATA_KEY_FILE": str(served.data_key_file),
        "IDENTITY_PUBLIC_URL": served.public_url,
        "IDENTITY_GROUP_COMMIT": "true",
        "IDENTITY_BULK_MATCH_WORKER": "false",
        "IDENTITY_LOG_LEVEL": "WARNING",
    }


@contextmanager
def served(settings: Settings, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`identity serve` in a process of its own, up and answering."""
    port = free_port()
    cli = Path(sys.executable).with_name("identity")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(cli), "serve", "--port", str(port)], env=_env(settings), stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _load(base: str, token: str, acknowledged: list[str], stop: threading.Event, n: int) -> None:
    """One client: match distinct people back to back until the server goes away."""
    i = 0
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
        while not stop.is_set():
            i += 1
            body = {
                "patient": fhir_patient(f"Kay{n}", f"Load{i}", f"19{60 + n}-0{1 + i % 9}-1{i % 10}")
            }
            try:
                answer = c.post("/v1/match", json=body)
            except httpx.TransportError:
                return  # killed: an answer that never came back was never acknowledged
            if answer.status_code == 200:
                acknowledged.append(answer.json()["match_id"])


@pytest.mark.usefixtures("household")
def test_kill_9_mid_load_loses_nothing_acknowledged(
    settings: Settings, sessions: sessionmaker[Session], active_policy: str, tmp_path: Path
) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="loader")
    log = tmp_path / "server.log"
    acknowledged: list[str] = []
    stop = threading.Event()
    with served(settings, log) as (proc, base):
        clients = [
            threading.Thread(target=_load, args=(base, token, acknowledged, stop, n))
            for n in range(CLIENTS)
        ]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: groups are being written and committed
        proc.wait(timeout=30)
        stop.set()
        for client in clients:
            client.join(timeout=60)
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, log.read_text()[-2000:]

    auth = {"Authorization": f"Bearer {token}"}
    # It starts again on what the kill left, and answers for every acknowledged decision.
    with served(settings, log) as (_, base), httpx.Client(base_url=base, headers=auth) as c:
        for match_id in acknowledged:
            assert c.get(f"/v1/matches/{match_id}").status_code == 200, match_id
    with sessions() as session:
        stored = set(session.scalars(select(MatchDecision.id)))
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "match.create"))
        audited = {e.object_ids[0] for e in events}
        report = audit.verify(session)
    assert set(acknowledged) <= stored
    assert set(acknowledged) <= audited
    assert audited == stored  # no decision without its event, no event without its decision
    assert report.intact, report.breaks
