"""The published API description: openapi.json at the repository's root is exactly what the app
describes, as the live development server serves it. A route changed without regenerating the
file (`identity openapi --out openapi.json`) fails here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from identity.cli.openapi import openapi_document, render
from tests.conftest import REPO

PUBLISHED = REPO / "openapi.json"
REGENERATE = "regenerate it: .venv/bin/identity openapi --out openapi.json"


def test_the_published_file_is_what_the_app_describes() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == render(openapi_document()), REGENERATE


def test_the_live_server_serves_the_same_description(client: httpx.Client) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    assert r.json() == json.loads(PUBLISHED.read_text(encoding="utf-8")), REGENERATE


def test_the_description_lists_the_front_door_and_the_policy() -> None:
    paths = json.loads(PUBLISHED.read_text(encoding="utf-8"))["paths"]
    for path in ("/fhir/metadata", "/fhir/OperationDefinition/{operation_id}", "/v1/policy"):
        assert "get" in paths[path], path
    assert "/fhir/Patient/$member-match" in paths


def test_the_command_checks_and_regenerates(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDENTITY_")}
    cmd = [sys.executable, "-m", "identity", "openapi", "--out", str(stale)]
    check = subprocess.run([*cmd, "--check"], env=env, capture_output=True, text=True)
    assert check.returncode == 1
    assert "out of date" in check.stderr
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert stale.read_text(encoding="utf-8") == PUBLISHED.read_text(encoding="utf-8")
    again = subprocess.run([*cmd, "--check"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
