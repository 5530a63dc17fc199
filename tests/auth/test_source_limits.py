"""Limits per source address, before authentication, over real HTTP on both databases.

The test server is uvicorn on loopback, which (like `identity serve`) takes the source from
X-Forwarded-For only because the peer, 127.0.0.1, is in its FORWARDED_ALLOW_IPS: that is how
these tests speak from several sources. The service itself never reads the header.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from identity.auth.dev import mint_dev_token
from identity.auth.source_limit import source_of
from identity.config import Settings
from tests.auth.test_token_endpoint import ask
from tests.conftest import TENANT, LiveServer

PROBE = "/v1/review-items"  # needs `review`; reads nothing when refused
A, B = "203.0.113.7", "198.51.100.20"


def _from(source: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": source}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@contextmanager
def _statements(server: LiveServer) -> Iterator[list[str]]:
    """Every SQL statement the service's engine runs inside the block."""
    engine = server.server.config.app.state.engine
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _tight(settings: Settings, **limits: Any) -> Settings:
    return settings.model_copy(update=limits)


def test_a_source_that_keeps_failing_is_refused_cheaply(
    settings: Settings, active_policy: str
) -> None:
    tight = _tight(settings, source_failure_burst=5, source_failures_per_s=0.01)
    good = mint_dev_token(settings, tenant=TENANT, client_id="honest", scopes={"review"})
    with LiveServer(tight) as server, server.client() as http:
        failed = [http.get(PROBE, headers=_from(A, "not-a-token")).status_code for _ in range(5)]
        assert failed == [401] * 5
        with _statements(server) as sql:
            refused = [
                http.get(PROBE, headers=_from(A, "not-a-token")),
                http.get(PROBE, headers=_from(A, good)),  # even a good token, from that source
                http.post("/fhir/Patient/$member-match", headers=_from(A), json={}),
            ]
        assert sql == []  # decided from memory: no token checked, nothing read or written
        for r in refused:
            assert r.status_code == 429, r.text
            assert int(r.headers["retry-after"]) >= 1
            assert 'source-failures"' in r.headers["ratelimit-policy"]
        assert refused[0].headers["content-type"].startswith("application/problem+json")
        assert refused[2].headers["content-type"].startswith("application/fhir+json")
        # Another source is not held up: its good token passes, its bad one is a plain 401.
        with _statements(server) as sql:
            assert http.get(PROBE, headers=_from(B, good)).status_code == 200
        assert sql  # (the listener does see the service's statements)
        assert http.get(PROBE, headers=_from(B, "not-a-token")).status_code == 401


def test_a_source_sending_too_fast_is_refused(settings: Settings, active_policy: str) -> None:
    tight = _tight(settings, source_rate_per_s=0.05, source_burst=3)
    with LiveServer(tight) as server, server.client() as http:
        codes = [http.get("/.well-known/jwks.json", headers=_from(A)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert http.get("/.well-known/jwks.json", headers=_from(B)).status_code == 200


def test_failed_client_authentication_counts_too(settings: Settings, active_policy: str) -> None:
    tight = _tight(settings, source_failure_burst=3, source_failures_per_s=0.01)
    with LiveServer(tight) as server, server.client() as http:
        http.headers.update(_from(A))
        codes = [ask(http, "not.an.assertion").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_the_default_budget_outlasts_an_honest_burst_of_mistakes(
    live_server: LiveServer,
) -> None:
    """Forty 401s in a row (a misconfigured client's first minute) are still answered 401."""
    with live_server.client() as http:
        codes = {http.get(PROBE, headers=_from(A, "expired")).status_code for _ in range(40)}
    assert codes == {401}


@pytest.mark.parametrize(
    ("client", "source"),
    [
        (("192.0.2.1", 5000), "192.0.2.1"),
        (("2001:db8:1:2:3:4:5:6", 5000), "2001:db8:1:2::/64"),  # one host holds a /64
        (("2001:db8:1:2:ffff::9", 5000), "2001:db8:1:2::/64"),
        (("::ffff:192.0.2.1", 5000), "192.0.2.1"),
        (None, "unknown"),
    ],
)
def test_the_source_of_a_connection(client: tuple[str, int] | None, source: str) -> None:
    assert source_of({"type": "http", "client": client, "headers": []}) == source


def test_the_header_is_not_read_by_the_service() -> None:
    """A forged X-Forwarded-For reaching the service directly changes nothing: only the peer."""
    scope = {
        "type": "http",
        "client": ("192.0.2.1", 1),
        "headers": [(b"x-forwarded-for", b"1.2.3.4")],
    }
    assert source_of(scope) == "192.0.2.1"
