"""The gate's calls to identity: discovery, the keys that verify access tokens, the gate's own
access token (private_key_jwt, as any SMART Backend Services client), introspection and reports.

identity is reached at `identity_url`; the issuer and token endpoint it names in its discovery
document are what tokens and assertions must say (the two differ behind a proxy or in tests).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.api_jwk import PyJWK

from identity.auth.access_tokens import AccessTokenValidator, InvalidToken, TrustedIssuer
from identity.auth.client_assertion import ASSERTION_TYPE
from identity.auth.keys import UnusableKey, public_keys, thumbprint
from identity.auth.principal import Principal
from identity.auth.scopes import Scope
from identity.gate.schemas import GateEvent

REFRESH_MARGIN_S = 30  # renew the gate's access token this long before it expires
KEYS_MIN_INTERVAL_S = 30  # an unknown kid re-fetches the key set at most this often
ASSERTION_LIFETIME_S = 120


class IdentityUnavailable(Exception):
    """identity could not be asked, or refused the gate itself; the message is safe to log."""


@dataclass(frozen=True, slots=True)
class GateKey:
    """The gate's private key: RSA (signs RS384) or EC P-384 (ES384), as SMART asks."""

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    alg: str
    kid: str
    public_jwk: dict[str, Any]

    def jwks(self) -> dict[str, Any]:
        """What to register for the gate (`identity clients add --jwks`)."""
        return {"keys": [{**self.public_jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}]}

    def assertion(self, client_id: str, audience: str) -> str:
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid, "typ": "JWT"}
        )


def load_gate_key(path: Path, kid: str | None = None) -> GateKey:
    """The PEM private key in `path`; its key id is `kid` or, by default, its RFC 7638
    thumbprint (what identity files a registered key without a `kid` under)."""
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UnusableKey(f"cannot read an unencrypted PEM private key from {path}") from exc
    if isinstance(loaded, rsa.RSAPrivateKey):
        alg, jwk = "RS384", orjson.loads(RSAAlgorithm.to_jwk(loaded.public_key()))
    elif isinstance(loaded, ec.EllipticCurvePrivateKey) and loaded.curve.name == "secp384r1":
        alg, jwk = "ES384", orjson.loads(ECAlgorithm.to_jwk(loaded.public_key()))
    else:
        raise UnusableKey(f"{path}: the gate signs with an RSA or an EC P-384 key")
    return GateKey(loaded, alg, kid or thumbprint(jwk), jwk)


class IdentityClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        key: GateKey,
        audience: str | None = None,
        leeway_s: int = 30,
    ) -> None:
        self._http = http  # its base_url is identity's
        self._client_id = client_id
        self._key = key
        self._audience = audience
        self._leeway = leeway_s
        self._token_endpoint = ""
        self._validator: AccessTokenValidator | None = None
        self._keys: dict[str, PyJWK] = {}
        self._keys_fetched = -float("inf")
        self._access_token: str | None = None
        self._access_renew_at = 0.0
        self._lock = asyncio.Lock()

    # --- the caller's access token -------------------------------------------------------------

    async def validate_bearer(self, token: str) -> Principal:
        """The caller behind an access token identity issued; InvalidToken otherwise."""
        validator = await self._discovered()
        if len(token) <= 8192:
            try:
                kid = str(jwt.get_unverified_header(token).get("kid", ""))
            except jwt.PyJWTError as exc:
                raise InvalidToken("the token is not a well-formed JWT") from exc
            if kid not in self._keys:
                await self._refresh_keys()
        return validator.validate(token)

    async def _discovered(self) -> AccessTokenValidator:
        if self._validator is None:
            found = await self._json("GET", "/.well-known/smart-configuration")
            issuer, endpoint = found.get("issuer"), found.get("token_endpoint")
            if not isinstance(issuer, str) or not isinstance(endpoint, str):
                raise IdentityUnavailable("identity's discovery document lacks issuer or endpoint")
            self._token_endpoint = endpoint
            # identity's tokens name identity as their audience unless told otherwise.
            self._validator = AccessTokenValidator(
                [TrustedIssuer(issuer, self._keys.get)],
                audience=self._audience or issuer,
                leeway_s=self._leeway,
            )
        return self._validator

    async def _refresh_keys(self) -> None:
        # Bounded, so a stream of tokens with made-up key ids cannot hammer identity. Only a
        # successful fetch counts: after an outage the next request tries again.
        if time.monotonic() - self._keys_fetched < KEYS_MIN_INTERVAL_S:
            return
        try:
            keys = public_keys(await self._json("GET", "/.well-known/jwks.json"))
        except UnusableKey as exc:
            raise IdentityUnavailable("identity's key set is unusable") from exc
        self._keys_fetched = time.monotonic()
        # In place: the validator's issuer looks keys up through this very dict.
        self._keys.clear()
        self._keys.update(keys)

    # --- introspection and reports, as the gate ------------------------------------------------

    async def introspect(self, match_token: str) -> dict[str, Any]:
        """identity's RFC 7662 answer for a match token."""
        response = await self._as_gate("POST", "/v1/tokens/introspect", data={"token": match_token})
        if response.status_code != 200:
            raise IdentityUnavailable(f"introspection answered HTTP {response.status_code}")
        return _object(response)

    async def report(self, event: GateEvent, request_id: str) -> None:
        """Record a decision in identity's audit trail."""
        response = await self._as_gate(
            "POST",
            "/v1/gate-events",
            json=event.model_dump(),
            headers={"X-Request-ID": request_id},
        )
        if response.status_code != 204:
            raise IdentityUnavailable(
                f"the gate event was refused with HTTP {response.status_code}"
            )

    async def _as_gate(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request with the gate's access token; once more with a new token after a 401 (a
        token identity no longer accepts, for instance after a key rotation)."""
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            token = await self._gate_token(renew=attempt == 2)
            headers = {**extra, "Authorization": f"Bearer {token}"}
            response = await self._send(method, path, headers=headers, **kwargs)
            if response.status_code != 401:
                return response
        return response

    async def _gate_token(self, *, renew: bool) -> str:
        async with self._lock:  # one token request at a time, however many retrievals wait
            if not renew and self._access_token and time.monotonic() < self._access_renew_at:
                return self._access_token
            await self._discovered()
            form = {
                "grant_type": "client_credentials",
                "scope": Scope.TOKENS_INTROSPECT.value,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self._key.assertion(self._client_id, self._token_endpoint),
            }
            response = await self._send("POST", "/oauth/token", data=form)
            if response.status_code != 200:
                raise IdentityUnavailable(
                    f"identity's token endpoint refused the gate (HTTP {response.status_code})"
                )
            body = _object(response)
            token, lifetime = body.get("access_token"), body.get("expires_in")
            if not isinstance(token, str) or not isinstance(lifetime, int):
                raise IdentityUnavailable("identity's token response is not usable")
            self._access_token = token
            self._access_renew_at = time.monotonic() + max(0, lifetime - REFRESH_MARGIN_S)
            return token

    async def _json(self, method: str, path: str) -> dict[str, Any]:
        response = await self._send(method, path)
        if response.status_code != 200:
            raise IdentityUnavailable(f"identity answered {path} with HTTP {response.status_code}")
        return _object(response)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"identity is unreachable ({type(exc).__name__})") from exc


def _object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise IdentityUnavailable("identity's answer is not JSON") from exc
    if not isinstance(body, dict):
        raise IdentityUnavailable("identity's answer is not a JSON object")
    return body
