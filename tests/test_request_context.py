"""Request ids and the access log: one JSON line per request, naming the route, not the path."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.factories import fhir_patient


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_request_id_and_access_log(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    given = client.get("/v1/matches/abc-123", headers={"X-Request-ID": "trace-42"})
    assert given.status_code == 404
    assert given.headers["x-request-id"] == "trace-42"
    made = client.post(
        "/v1/match",
        json={"patient": fhir_patient("Zqxcanary")},
        headers={"X-Request-ID": "not valid!"},
    )
    assert made.headers["x-request-id"] != "not valid!"
    assert len(made.headers["x-request-id"]) == 36

    lines = [
        json.loads(line)
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("{") and '"request"' in line
    ]
    by_id = {entry["request_id"]: entry for entry in lines if entry.get("event") == "request"}
    assert by_id["trace-42"]["route"] == "/v1/matches/{match_id}"
    assert by_id["trace-42"]["status"] == 404
    posted = by_id[made.headers["x-request-id"]]
    assert (posted["route"], posted["method"], posted["status"]) == ("/v1/match", "POST", 200)
    text = json.dumps(lines)
    assert "abc-123" not in text
    assert "Zqxcanary".upper() not in text.upper()
