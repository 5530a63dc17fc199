"""Sign-in with the payer's OpenID Connect provider: authorization code flow with PKCE (S256).

authlib builds the authorization request (state, nonce, code challenge); the code is exchanged
at the provider's token endpoint with the verifier; the ID token is validated with the provider's
JWKS (signature, issuer, audience, expiry, nonce). Between the redirect and the callback the
state, nonce and verifier travel in a short-lived cookie sealed with the service's data key, so
any replica can finish the sign-in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from identity.config import Settings
from identity.idempotency.sealing import Sealer, open_text, seal_text
from identity.review_ui.sessions import ROLES

PENDING_COOKIE = "identity_review_oidc"
PENDING_S = 600  # a sign-in at the provider must finish within ten minutes
_CONTEXT = "review-oidc-pending"
_DISCOVERY_TTL_S = 3600.0


class SignInRefused(Exception):
    """The provider's answer does not sign anyone in; the message is safe to show (no claims)."""


@dataclass(frozen=True, slots=True)
class Identity:
    tenant: str
    person: str
    role: str


@dataclass
class Provider:
    """The provider's discovery document and keys, fetched when first needed and cached."""

    settings: Settings
    _config: dict[str, Any] | None = None
    _keys: jwt.PyJWKSet | None = None
    _fetched_at: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.settings.oidc_issuer and self.settings.oidc_client_id)

    def _get(self, url: str) -> dict[str, Any]:
        response = httpx.get(url, timeout=10.0)
        response.raise_for_status()
        document = orjson.loads(response.content)
        if not isinstance(document, dict):
            raise SignInRefused("the sign-in provider answered something unexpected")
        return document

    def config(self, *, refresh: bool = False) -> dict[str, Any]:
        stale = time.monotonic() - self._fetched_at > _DISCOVERY_TTL_S
        if self._config is None or refresh or stale:
            issuer = str(self.settings.oidc_issuer).rstrip("/")
            self._config = self._get(issuer + "/.well-known/openid-configuration")
            self._keys = jwt.PyJWKSet.from_dict(self._get(str(self._config["jwks_uri"])))
            self._fetched_at = time.monotonic()
        return self._config

    def keys(self, *, refresh: bool = False) -> jwt.PyJWKSet:
        self.config(refresh=refresh)
        assert self._keys is not None
        return self._keys

    # --- the flow ---

    def begin(self, sealer: Sealer, redirect_uri: str) -> tuple[str, str]:
        """The provider's authorization URL and the sealed pending-sign-in cookie value."""
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = add_params_to_uri(
            str(self.config()["authorization_endpoint"]),
            [
                ("response_type", "code"),
                ("client_id", str(self.settings.oidc_client_id)),
                ("redirect_uri", redirect_uri),
                ("scope", "openid profile"),
                ("state", state),
                ("nonce", nonce),
                ("code_challenge", create_s256_code_challenge(verifier)),
                ("code_challenge_method", "S256"),
            ],
        )
        pending = orjson.dumps(
            {"state": state, "nonce": nonce, "verifier": verifier, "at": int(time.time())}
        ).decode()
        return url, seal_text(sealer, pending, _CONTEXT)

    def finish(
        self,
        sealer: Sealer,
        pending_cookie: str | None,
        *,
        code: str,
        state: str,
        redirect_uri: str,
    ) -> Identity:
        """Exchange the code and validate the ID token; SignInRefused for anything amiss."""
        opened = open_text(sealer, pending_cookie, _CONTEXT) if pending_cookie else None
        if opened is None:
            raise SignInRefused("the sign-in was not started here, or took too long")
        pending = orjson.loads(opened)
        if pending["state"] != state or time.time() - pending["at"] > PENDING_S:
            raise SignInRefused("the sign-in was not started here, or took too long")
        config = self.config()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": str(self.settings.oidc_client_id),
            "code_verifier": pending["verifier"],
        }
        if self.settings.oidc_client_secret:
            form["client_secret"] = self.settings.oidc_client_secret
        try:
            response = httpx.post(str(config["token_endpoint"]), data=form, timeout=10.0)
        except httpx.HTTPError as exc:
            raise SignInRefused("the sign-in provider could not be reached") from exc
        if response.status_code != 200:
            raise SignInRefused("the sign-in provider refused the sign-in")
        id_token = orjson.loads(response.content).get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("the sign-in provider sent no ID token")
        claims = self._validate(id_token, nonce=pending["nonce"])
        return self._identity(claims)

    def _validate(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            keys = self.keys()
            if kid is not None and kid not in {k.key_id for k in keys.keys}:
                keys = self.keys(refresh=True)  # the provider rotated its keys
            key = keys[kid] if kid is not None else keys.keys[0]
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256", "ES256", "PS256"],
                audience=str(self.settings.oidc_client_id),
                issuer=str(self.settings.oidc_issuer),
                options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]},
                leeway=self.settings.clock_leeway_s,
            )
        except (jwt.PyJWTError, KeyError) as exc:
            raise SignInRefused("the ID token is not valid") from exc
        if claims.get("nonce") != nonce:
            raise SignInRefused("the ID token is not valid")
        return claims

    def _identity(self, claims: dict[str, Any]) -> Identity:
        settings = self.settings
        raw_roles = claims.get(settings.oidc_role_claim)
        roles = [raw_roles] if isinstance(raw_roles, str) else list(raw_roles or [])
        # The strongest known role the person holds: lead, then steward, then auditor.
        role = next((r for r in ("lead", "steward", "auditor") if r in roles), None)
        if role is None or role not in ROLES:
            raise SignInRefused("your account has no workbench role (steward, lead or auditor)")
        tenant = settings.oidc_tenant
        if settings.oidc_tenant_claim:
            tenant = claims.get(settings.oidc_tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise SignInRefused("your account names no tenant")
        person = claims.get("preferred_username") or claims.get("sub")
        return Identity(tenant=tenant, person=str(person), role=role)
