"""examples/new_payer_client.py end to end, on both databases: run as a newcomer would run it,
against the live service (uvicorn, real HTTP), the gate in front of a small FHIR server, and the
real `identity clients add` command writing to the test database. Nothing in the example is
stubbed: its key pair, registration, assertion, token, $member-match, introspection and the read
through the gate are the real ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from identity.clients import repository as clients_repository
from identity.config import Settings
from identity.db import transaction
from tests.conftest import REPO, TENANT
from tests.exchange.conftest import NEW_PAYER, example_member  # noqa: F401 (fixture)
from tests.gate.conftest import World, world  # noqa: F401 (fixture)
from tests.gate.fhir_fixture import HREX_MEMBER

EXAMPLE = REPO / "examples" / "new_payer_client.py"


def test_the_example_client_runs_end_to_end(
    world: World,  # noqa: F811
    example_member: None,  # noqa: F811
    settings: Settings,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    env["IDENTITY_DATABASE_URL"] = settings.database_url  # the operator's registration step
    keys = tmp_path / "keys"
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--identity-url",
            world.identity.base_url,
            "--gate-url",
            world.gate.base_url,
            "--tenant",
            TENANT,
            "--keys-dir",
            str(keys),
            "--organization",
            f"{NEW_PAYER.system}|{NEW_PAYER.value}",
            # The HRex examples' member, as tests/exchange loads her (the FHIR server has her).
            "--given",
            "Patricia",
            "--family",
            "Person",
            "--birth-date",
            "1974-12-25",
            "--member-id",
            "DH10001235",
            "--subscriber-id",
            "",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["member_match_status"] == 200
    assert summary["active"] is True
    assert summary["patient_id"] == HREX_MEMBER
    assert summary["gate_status"] == 200
    assert "Group/$bulk-member-match" in done.stdout  # it read the CapabilityStatement
    # The gate fetched that member's record from the FHIR server, and nobody else's.
    assert [path for path, *_ in world.fhir.requests] == [f"/fhir/Patient/{HREX_MEMBER}"]
    # Registered for real, speaking for its organisation; the key set it registered is public.
    with transaction(sessions) as session:
        client = clients_repository.get(session, summary["client_id"])
        assert client is not None
        assert client.tenant_id == TENANT
        assert set(client.scopes.split()) == {"match", "tokens:introspect"}
    public = json.loads((keys / "new-payer-jwks.json").read_text())["keys"]
    assert len(public) == 1
    assert "d" not in public[0]
    assert (keys / "new-payer-key.pem").stat().st_mode & 0o077 == 0
