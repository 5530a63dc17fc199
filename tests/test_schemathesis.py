"""Schemathesis against the real server: every operation of /openapi.json, over real HTTP, with a
development token holding every scope, on SQLite and PostgreSQL. Data both fitting the published
schemas and not (positive and negative modes) must never get a 5xx.

Bounded and seeded: a fixed number of examples per operation and mode, derandomized (the same
examples every run), no example database, so a failure here is a failure every time.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.generation.modes import GenerationMode

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import NEW_PAYER

EXAMPLES = 25  # per operation and mode: 20-40 s a database on two cores
# Operations that answer on their own schedule and add nothing a fuzzer can reach: the metrics
# exposition (a scrape), and Swagger's pages.
SKIPPED = {"/metrics", "/docs", "/docs/oauth2-redirect"}


def _run(operation: Any, mode: GenerationMode, base_url: str, token: str) -> list[str]:
    """Server errors for one operation and mode: '<method> <path> <status>' each."""
    errors: list[str] = []

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(mode))
    def explore(case: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        if response.status_code >= 500:
            errors.append(f"{case.method} {case.formatted_path} {response.status_code}")

    try:
        explore()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to make invalid (an operation with no parameters and no body): no negative case.
        assert mode is GenerationMode.NEGATIVE
    return errors


def test_no_server_errors(live_server: LiveServer, settings: Settings) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="fuzzer", organization=NEW_PAYER)
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")
    errors: list[str] = []
    operations = 0
    posts_with_bodies = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED:
            continue
        operations += 1
        if operation.method.upper() == "POST" and operation.body:
            posts_with_bodies += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            errors += _run(operation, mode, live_server.base_url, token)
    assert operations >= 20
    # Every POST route publishes its body's schema, so the fuzzer reaches past the envelope.
    assert posts_with_bodies == 20
    assert errors == []


def test_every_post_route_publishes_its_request_body(live_server: LiveServer) -> None:
    import httpx

    spec = httpx.get(f"{live_server.base_url}/openapi.json").json()
    missing = [
        path
        for path, methods in spec["paths"].items()
        if "post" in methods
        and not any(
            media.get("schema")
            for media in methods["post"].get("requestBody", {}).get("content", {}).values()
        )
    ]
    assert missing == []
