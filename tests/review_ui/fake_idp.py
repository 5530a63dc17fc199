"""A small OpenID Connect provider for the sign-in tests.

The payer's real identity provider is a third party that cannot run here, so the suite starts
this one on loopback: discovery, JWKS, an authorization endpoint that signs in a preset person at
once (no login form), and a token endpoint that checks the PKCE verifier and answers with a
signed ID token. It checks what a real provider checks of us: client id, redirect URI, the S256
code challenge, single use of a code."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "identity-workbench"


@dataclass
class FakeIdp:
    """The provider's state: who signs in next, and the codes handed out."""

    claims: dict[str, Any] = field(
        default_factory=lambda: {"preferred_username": "olivia.idp", "roles": ["steward"]}
    )
    issuer: str = ""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    tamper_nonce: bool = False
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()
        idp = self

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": idp.issuer,
                "authorization_endpoint": idp.issuer + "/authorize",
                "token_endpoint": idp.issuer + "/token",
                "jwks_uri": idp.issuer + "/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            public = RSAAlgorithm.to_jwk(idp.key.public_key(), as_dict=True)
            return {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}

        @app.get("/authorize")
        def authorize(request: Request) -> Response:
            q = request.query_params
            if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
                return JSONResponse({"error": "invalid_request"}, 400)
            code = secrets.token_urlsafe(16)
            idp.codes[code] = {
                "nonce": q["nonce"],
                "challenge": q["code_challenge"],
                "redirect_uri": q["redirect_uri"],
            }
            return RedirectResponse(
                q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]}), 302
            )

        @app.post("/token")
        def token(
            code: str = Form(),
            code_verifier: str = Form(),
            redirect_uri: str = Form(),
            client_id: str = Form(),
            grant_type: str = Form(),
        ) -> Response:
            idp.token_requests.append({"code_verifier": code_verifier, "grant_type": grant_type})
            issued = idp.codes.pop(code, None)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            if (
                issued is None
                or issued["challenge"] != challenge
                or issued["redirect_uri"] != redirect_uri
                or client_id != CLIENT_ID
            ):
                return JSONResponse({"error": "invalid_grant"}, 400)
            now = int(time.time())
            claims = {
                "iss": idp.issuer,
                "aud": CLIENT_ID,
                "sub": "sub-" + str(idp.claims.get("preferred_username")),
                "iat": now,
                "exp": now + 300,
                "nonce": "not-yours" if idp.tamper_nonce else issued["nonce"],
                **idp.claims,
            }
            id_token = jwt.encode(claims, idp.key, algorithm="RS256", headers={"kid": "k1"})
            return JSONResponse({"access_token": "x", "token_type": "Bearer", "id_token": id_token})

        return app
