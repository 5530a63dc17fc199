"""Rate limits over real HTTP: the RateLimit fields on every answer, 429 with Retry-After past the
quota, and a neighbour client of the same tenant untouched by a noisy one."""

from __future__ import annotations

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.conftest import TENANT, LiveServer


def test_a_noisy_client_is_limited_and_its_neighbour_is_not(settings: Settings) -> None:
    limited = settings.model_copy(
        update={
            "rate_limit_client_per_s": 0.2,
            "rate_limit_client_burst": 3,
            "rate_limit_tenant_per_s": 100.0,
            "rate_limit_tenant_burst": 100,
        }
    )
    noisy = mint_dev_token(settings, tenant=TENANT, client_id="noisy")
    quiet = mint_dev_token(settings, tenant=TENANT, client_id="quiet")
    with LiveServer(limited) as server, server.client(noisy) as a, server.client(quiet) as b:
        answers = [a.get("/v1/review-items") for _ in range(5)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
        assert answers[0].headers["ratelimit-policy"].startswith('"client";q=3;w=15')
        assert answers[0].headers["ratelimit"] == '"client";r=2;t=5'
        refused = answers[3]
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 429
        assert "ratelimit" in refused.headers
        # The neighbour still has its whole quota.
        assert [b.get("/v1/review-items").status_code for _ in range(3)] == [200, 200, 200]
