"""The token negative corpus, over real HTTP on both databases: every bad token is refused with
401 and `WWW-Authenticate: Bearer error="invalid_token"`; a good token without the scope: 403."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from identity.auth import access_tokens
from identity.auth.access_tokens import AccessTokenValidator, InvalidToken, TrustedIssuer
from identity.auth.keys import public_keys
from identity.config import Settings
from tests.auth.forge import ClientKey, claims, dev_signed, hmac_with_public_key, tampered, unsigned
from tests.conftest import LiveServer

PROBE = "/v1/review-items"  # needs the `review` scope; reads nothing when refused

Case = Callable[[Settings], str]

NEGATIVE_CORPUS: dict[str, Case] = {
    "expired": lambda s: dev_signed(
        s, claims(iat=int(time.time()) - 900, exp=int(time.time()) - 600)
    ),
    "not yet valid (nbf)": lambda s: dev_signed(s, claims(nbf=int(time.time()) + 600)),
    "issued in the future (iat)": lambda s: dev_signed(s, claims(iat=int(time.time()) + 600)),
    "wrong audience": lambda s: dev_signed(s, claims(aud="https://someone-else.test")),
    "wrong issuer": lambda s: dev_signed(s, claims(iss="https://evil.test")),
    "alg none": lambda s: unsigned(claims()),
    "HMAC keyed with the public key": lambda s: hmac_with_public_key(s, claims()),
    "unknown kid": lambda s: dev_signed(s, claims(), kid="no-such-key"),
    "tampered payload": lambda s: tampered(dev_signed(s, claims(scope="match")), scope="admin"),
    "tampered tenant": lambda s: tampered(dev_signed(s, claims()), tenant="other-payer"),
    "oversized": lambda s: dev_signed(s, claims(padding="x" * 9000)),
    "missing exp": lambda s: dev_signed(s, claims(exp=None)),
    "missing iat": lambda s: dev_signed(s, claims(iat=None)),
    "missing aud": lambda s: dev_signed(s, claims(aud=None)),
    "missing tenant": lambda s: dev_signed(s, claims(tenant=None)),
    "sub differs from client_id": lambda s: dev_signed(s, claims(sub="someone-else")),
    "not an access token (typ JWT)": lambda s: dev_signed(s, claims(), typ="JWT"),
    "signed by a stranger's key": lambda s: _stranger_signed(s),
    "not a JWT at all": lambda s: "definitely.not.a-jwt",
}


def _stranger_signed(settings: Settings) -> str:
    from identity.auth.keys import load_or_create_signing_key

    own_kid = load_or_create_signing_key(settings.dev_key_file).kid
    stranger = ClientKey("RS256", kid=own_kid)
    return jwt.encode(
        claims(), stranger.private, algorithm="RS256", headers={"kid": own_kid, "typ": "at+jwt"}
    )


def test_every_bad_token_is_refused_with_401(live_server: LiveServer, settings: Settings) -> None:
    wrong: list[str] = []
    with live_server.client() as http:
        for name, make in NEGATIVE_CORPUS.items():
            r = http.get(PROBE, headers={"Authorization": f"Bearer {make(settings)}"})
            challenge = r.headers.get("www-authenticate", "")
            if r.status_code != 401 or 'error="invalid_token"' not in challenge:
                wrong.append(f"{name}: {r.status_code} {challenge!r}")
            elif r.headers["content-type"] != "application/problem+json":
                wrong.append(f"{name}: body is {r.headers['content-type']}")
    assert not wrong, wrong


def test_missing_or_malformed_authorization_is_401(live_server: LiveServer) -> None:
    with live_server.client() as http:
        for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
            r = http.get(PROBE, headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_a_good_token_passes_and_one_without_the_scope_is_403(
    live_server: LiveServer, settings: Settings
) -> None:
    with live_server.client() as http:
        ok = http.get(PROBE, headers={"Authorization": f"Bearer {dev_signed(settings, claims())}"})
        assert ok.status_code == 200, ok.text
        narrow = dev_signed(settings, claims(scope="match"))
        r = http.get(PROBE, headers={"Authorization": f"Bearer {narrow}"})
        assert r.status_code == 403
        assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="review"'
        assert r.json()["type"].endswith("/insufficient-scope")


def test_the_validator_names_each_reason(settings: Settings) -> None:
    """Unit level: the reasons differ, so an operator can tell an expired token from a forged
    one in the logs (the reason never includes the token)."""
    from identity.auth.keys import load_or_create_signing_key

    key = load_or_create_signing_key(settings.dev_key_file)
    validator = AccessTokenValidator(
        [TrustedIssuer("urn:identity:dev", public_keys({"keys": [key.public_jwk()]}).get)],
        audience=settings.public_url,
    )
    assert validator.validate(dev_signed(settings, claims())).tenant == "test-payer"
    reasons = set()
    for name in ("expired", "wrong audience", "alg none", "unknown kid", "tampered payload"):
        with pytest.raises(InvalidToken) as caught:
            validator.validate(NEGATIVE_CORPUS[name](settings))
        reasons.add(str(caught.value))
    assert len(reasons) == 5


def test_tokens_from_a_configured_issuer_by_key_set_url(
    settings: Settings, live_server: LiveServer, active_policy: str
) -> None:
    """Another authorisation server's key set, fetched over real HTTP (here: the first server's
    own /.well-known/jwks.json plays the other authorisation server)."""
    from identity.auth.access_tokens import mint_access_token
    from identity.auth.keys import load_or_create_signing_key
    from identity.config import TrustedIssuerSettings

    other = "https://other-as.test"
    second = settings.model_copy(
        update={
            "trusted_issuers": [
                TrustedIssuerSettings(
                    issuer=other, jwks_url=f"{live_server.base_url}/.well-known/jwks.json"
                )
            ]
        }
    )
    signing = load_or_create_signing_key(settings.signing_key_file)
    token, _ = mint_access_token(
        signing,
        issuer=other,
        audience=settings.public_url,
        client_id="partner",
        tenant="test-payer",
        scopes=["review"],
    )
    with LiveServer(second) as server, server.client(token) as http:
        assert http.get(PROBE).status_code == 200
        forged = tampered(token, tenant="another")
        assert http.get(PROBE, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def _counting_validator(settings: Settings) -> tuple[AccessTokenValidator, list[str]]:
    """The development issuer's real keys, behind a lookup that counts how often a token's
    signature had to be checked (a remembered token needs no key)."""
    from identity.auth.keys import load_or_create_signing_key

    keys = public_keys({"keys": [load_or_create_signing_key(settings.dev_key_file).public_jwk()]})
    looked_up: list[str] = []

    def lookup(kid: str) -> Any:
        looked_up.append(kid)
        return keys.get(kid)

    issuer = TrustedIssuer("urn:identity:dev", lookup)
    return AccessTokenValidator([issuer], audience=settings.public_url, leeway_s=0), looked_up


def test_a_validated_token_is_remembered_until_it_lapses(settings: Settings) -> None:
    validator, looked_up = _counting_validator(settings)
    now = int(time.time())
    token = dev_signed(settings, claims(iat=now, nbf=now, exp=now + 2))
    principal = validator.validate(token)
    assert validator.validate(token) == principal
    assert validator.remembered(token) == principal
    assert len(looked_up) == 1  # its signature was checked once
    time.sleep(max(0.0, now + 2.05 - time.time()))
    assert validator.remembered(token) is None
    with pytest.raises(InvalidToken, match="expired"):
        validator.validate(token)


def test_the_memory_is_bounded_and_keeps_the_newest_tokens(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_tokens, "REMEMBER_MAX", 3)
    validator, looked_up = _counting_validator(settings)
    tokens = [dev_signed(settings, claims()) for _ in range(5)]
    for token in tokens:
        validator.validate(token)
    kept = [validator.remembered(token) is not None for token in tokens]
    assert kept == [False, False, True, True, True]  # the oldest went, one at a time
    validator.validate(tokens[4])
    assert len(looked_up) == 5
