"""Crafting access tokens good and bad, for the negative corpus. Keys are generated here; nothing
of ours is faked: the server under test validates these exactly as it would a caller's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from identity.auth.keys import load_or_create_signing_key
from identity.auth.trust import DEV_ISSUER
from identity.config import Settings
from tests.conftest import PUBLIC_URL, TENANT


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": PUBLIC_URL,
        "sub": "test-client",
        "client_id": "test-client",
        "tenant": TENANT,
        "scope": "match decisions:read review",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def dev_signed(settings: Settings, payload: dict[str, Any], **header: Any) -> str:
    """Signed with the development key the server trusts."""
    key = load_or_create_signing_key(settings.dev_key_file)
    headers = {"typ": "at+jwt", "kid": key.kid, **header}
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers=headers)


def unsigned(payload: dict[str, Any]) -> str:
    header = {"alg": "none", "typ": "at+jwt"}
    return f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(payload))}."


def hmac_with_public_key(settings: Settings, payload: dict[str, Any]) -> str:
    """The classic confusion attack: HS256 keyed with the server's public key (PEM)."""
    key = load_or_create_signing_key(settings.dev_key_file)
    secret = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    signing_input = f"{b64(orjson.dumps(header))}.{b64(orjson.dumps(payload))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature over a payload with `changes` applied."""
    header, payload, signature = token.split(".")
    body = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    return f"{header}.{b64(orjson.dumps(body))}.{signature}"


class ClientKey:
    """A client's key pair: the private half signs assertions, the public half is registered."""

    def __init__(self, alg: str = "RS384", kid: str | None = None) -> None:
        self.alg = alg
        self.kid = kid or uuid.uuid4().hex[:8]
        if alg.startswith("ES"):
            self.private: Any = ec.generate_private_key(ec.SECP384R1())
            jwk = orjson.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = orjson.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        self.public_jwk = {**jwk, "kid": self.kid, "alg": alg, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def assertion(self, client_id: str, aud: str, alg: str | None = None, **overrides: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": aud,
            "exp": now + 240,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        payload.update(overrides)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload,
            self.private,
            algorithm=alg or self.alg,
            headers={"kid": self.kid, "typ": "JWT"},
        )
