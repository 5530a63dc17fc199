"""Request ids and the access log: one JSON line per request, naming the route, not the path."""

from __future__ import annotations

import json
import sys

import httpx
import pytest

from identity.app import create_app
from identity.config import Settings
from identity.logging_setup import get_logger
from tests.conftest import ServerThread
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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unexpected_error_is_a_500_logged_by_route_and_place_without_values(
    settings: Settings, active_policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug's 500: problem details for the caller; for the operator the exception's type, errno,
    the route's template and the frame that raised, never its message or the path's values."""
    app = create_app(settings)

    def broken(member_id: str) -> None:
        raise OSError(5, f"cannot read /srv/{member_id}/Zqxcanary")

    app.add_api_route("/v1/broken/{member_id}", broken)
    with ServerThread(app) as server, httpx.Client(base_url=server.base_url) as http:
        answer = http.get("/v1/broken/CANARY99")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "CANARY99" not in answer.text
    assert "Zqxcanary" not in answer.text
    [logged] = [
        json.loads(line)
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("{") and '"unhandled_error"' in line
    ]
    assert logged["error"] == "OSError"
    assert logged["errno"] == 5
    assert logged["route"] == "/v1/broken/{member_id}"
    assert logged["raised_at"].endswith(":broken:" + str(broken.__code__.co_firstlineno + 1))
    assert "CANARY99" not in json.dumps(logged)
    assert "Zqxcanary" not in json.dumps(logged)


class _ClosedStream:
    """A log stream gone away under the process (a closed pipe: EBADF)."""

    def write(self, text: str) -> int:
        raise OSError(9, "Bad file descriptor")

    def flush(self) -> None:
        raise OSError(9, "Bad file descriptor")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_broken_log_stream_loses_the_line_not_the_request(
    settings: Settings, active_policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the full suite: a server still answering after its test's output capture closed
    wrote a log line into a closed descriptor (EBADF), and the request was answered 500."""
    app = create_app(settings)
    log = get_logger("identity.test")

    def logs_then_answers() -> dict[str, bool]:
        log.warning("something_worth_a_line")
        return {"answered": True}

    app.add_api_route("/v1/logs-then-answers", logs_then_answers)
    with ServerThread(app) as server, httpx.Client(base_url=server.base_url) as http:
        monkeypatch.setattr(sys, "stderr", _ClosedStream())
        answer = http.get("/v1/logs-then-answers")
        monkeypatch.undo()
    assert answer.status_code == 200
    assert answer.json() == {"answered": True}
