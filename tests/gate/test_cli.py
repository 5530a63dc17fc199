"""`identity gate-jwks` and `identity gate`, run as an operator runs them (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization

from identity.auth.keys import public_keys
from tests.auth.forge import ClientKey
from tests.conftest import free_port


def pem(tmp_path: Path, alg: str = "RS384") -> Path:
    path = tmp_path / "gate.pem"
    path.write_bytes(
        ClientKey(alg).private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def identity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "identity", *args], capture_output=True, text=True, timeout=60
    )


def test_gate_jwks_prints_the_public_half(tmp_path: Path) -> None:
    key_file = pem(tmp_path, "ES384")
    printed = identity("gate-jwks", "--key-file", str(key_file))
    assert printed.returncode == 0, printed.stderr
    jwks = json.loads(printed.stdout)
    (kid,) = public_keys(jwks)
    assert jwks["keys"][0]["alg"] == "ES384"
    assert "d" not in jwks["keys"][0]  # never the private part
    named = identity("gate-jwks", "--key-file", str(key_file), "--key-id", "gate-1")
    assert json.loads(named.stdout)["keys"][0]["kid"] == "gate-1"
    assert kid != "gate-1"
    (tmp_path / "not-a-key.pem").write_text("hello")
    refused = identity("gate-jwks", "--key-file", str(tmp_path / "not-a-key.pem"))
    assert refused.returncode == 1
    assert "PEM" in refused.stderr


def test_the_gate_serves_and_refuses_without_identity(tmp_path: Path) -> None:
    """Started with identity unreachable, the gate still runs and refuses: without a bearer with
    401, with one (it cannot be checked) with 503, never by letting the request through."""
    port = free_port()
    nowhere = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "identity", "gate",
            "--upstream", f"{nowhere}/fhir", "--identity-url", nowhere,
            "--client-id", "gate", "--key-file", str(pem(tmp_path)), "--port", str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the gate did not start"
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                time.sleep(0.1)
            assert http.get("/Patient/p1").status_code == 401
            checked = http.get("/Patient/p1", headers={"Authorization": "Bearer x.y.z"})
            assert checked.status_code == 503
            assert checked.json()["resourceType"] == "OperationOutcome"
    finally:
        process.terminate()
        process.wait(timeout=10)
