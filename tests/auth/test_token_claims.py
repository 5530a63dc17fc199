"""Access-token claims every issuer's tokens must satisfy: a bounded lifetime, numeric times and
a real tenant, over real HTTP on both databases.

The third-party authorisation server is played by a key pair generated here whose public half
is configured as a trusted issuer's key set file (IDENTITY_TRUSTED_ISSUERS), exactly as an
operator would configure a partner's; the service validates its tokens as it would any caller's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from identity.auth.trust import DEV_ISSUER
from identity.config import Settings, TrustedIssuerSettings
from tests.auth.forge import dev_signed
from tests.conftest import PUBLIC_URL, TENANT, LiveServer

# A case's changes are made from the moment the token is minted (`now`), not collected.
Changes = Callable[[int], dict[str, Any]]
PROBE = "/v1/review-items"  # needs the `review` scope; reads nothing when refused
PARTNER = "https://partner-as.test"
YEAR = 365 * 24 * 3600


class Partner:
    """The other authorisation server: its private key signs, its key set is on disk."""

    def __init__(self, folder: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "partner-1"
        jwk = orjson.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks_file = folder / "partner-jwks.json"
        self.jwks_file.write_bytes(orjson.dumps({"keys": [{**jwk, "kid": self.kid}]}))

    def sign(self, **changes: Any) -> str:
        return jwt.encode(
            _claims(PARTNER, **changes),
            self.key,
            algorithm="RS256",
            headers={"typ": "at+jwt", "kid": self.kid},
        )


def _claims(issuer: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": issuer,
        "aud": PUBLIC_URL,
        "sub": "partner-client",
        "client_id": "partner-client",
        "tenant": TENANT,
        "scope": "review",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    return base | changes


@pytest.fixture
def partner(tmp_path: Path) -> Partner:
    return Partner(tmp_path)


@pytest.fixture
def served(settings: Settings, partner: Partner, active_policy: str) -> Iterator[LiveServer]:
    """The service trusting the partner for two tenants (ours and one more)."""
    trusting = settings.model_copy(
        update={
            "trusted_issuers": [
                TrustedIssuerSettings(
                    issuer=PARTNER, jwks_file=partner.jwks_file, tenants=[TENANT, "payer-b"]
                )
            ]
        }
    )
    with LiveServer(trusting) as server:
        yield server


def _status(server: LiveServer, token: str) -> int:
    with server.client(token) as http:
        return http.get(PROBE).status_code


def test_a_partner_token_within_the_rules_is_accepted(served: LiveServer, partner: Partner) -> None:
    assert _status(served, partner.sign()) == 200
    # An hour is the default ceiling: at it passes.
    now = int(time.time())
    assert _status(served, partner.sign(iat=now, nbf=now, exp=now + 3600)) == 200


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("one-year lifetime", lambda now: {"exp": now + YEAR}),
        ("lifetime just over an hour", lambda now: {"exp": now + 3600 + 5}),
        ("string exp", lambda now: {"exp": str(now + 300)}),
        ("string iat", lambda now: {"iat": str(now)}),
        ("string nbf", lambda now: {"nbf": str(now)}),
        ("boolean iat", lambda now: {"iat": True}),
        ("tenant '-'", lambda now: {"tenant": "-"}),
        ("empty tenant", lambda now: {"tenant": ""}),
        ("tenant not an id", lambda now: {"tenant": "Test Payer"}),
        ("tenant the issuer may not speak for", lambda now: {"tenant": "other-payer"}),
        ("exp before iat", lambda now: {"iat": now, "exp": now - 1}),
    ],
)
def test_a_partner_token_breaking_a_rule_is_refused(
    served: LiveServer, partner: Partner, case: str, changes: Changes
) -> None:
    with served.client(partner.sign(**changes(int(time.time())))) as http:
        r = http.get(PROBE)
    assert r.status_code == 401, case
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("one-year lifetime", lambda now: {"exp": now + YEAR}),
        ("string exp", lambda now: {"exp": str(now + 300)}),
        ("tenant '-'", lambda now: {"tenant": "-"}),
    ],
)
def test_the_same_rules_hold_for_tokens_of_our_own_keys(
    live_server: LiveServer, settings: Settings, case: str, changes: Changes
) -> None:
    """The development issuer stands in for every issuer the service trusts by default."""
    good = dev_signed(settings, _claims(DEV_ISSUER))
    assert _status(live_server, good) == 200
    assert (
        _status(live_server, dev_signed(settings, _claims(DEV_ISSUER, **changes(int(time.time())))))
        == 401
    ), case
