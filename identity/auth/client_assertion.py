"""SMART Backend Services client authentication: a `private_key_jwt` assertion (RFC 7523) signed
by a key the client registered, checked strictly before any token is issued."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from identity.auth.keys import UnusableKey, key_matches_algorithm, public_keys

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = frozenset({"RS384", "ES384"})  # what SMART Backend Services names
MAX_AHEAD_S = 300  # an assertion may not be valid for more than five minutes
MAX_ASSERTION_BYTES = 8192


class AssertionRefused(Exception):
    """The assertion does not authenticate the client; the message is safe to return."""


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    client_id: str
    jti: str
    expires_at: datetime


def claimed_client(assertion: str) -> str:
    """The client the assertion says it is from (unverified: used to find its keys)."""
    if len(assertion) > MAX_ASSERTION_BYTES:
        raise AssertionRefused("the client assertion is too large")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AssertionRefused("the client assertion is not a well-formed JWT") from exc
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer or claims.get("sub") != issuer:
        raise AssertionRefused("the assertion's iss and sub must both name the client")
    return issuer


@functools.cache
def _decoy_public_jwks() -> dict[str, dict[str, Any]]:
    """One throwaway public key per family, made once per process; its private half is dropped."""
    rsa_jwk = orjson.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key()))
    ec_jwk = orjson.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))
    return {"RSA": rsa_jwk, "EC": ec_jwk}


def decoy_jwks(assertion: str) -> dict[str, Any]:
    """A key set no client holds, shaped to the assertion (its algorithm's family, its kid), so
    verifying an unknown client's assertion runs the same signature check as a registered
    client's and fails the same way."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        header = {}
    family = "EC" if str(header.get("alg", "")).startswith("ES") else "RSA"
    jwk = dict(_decoy_public_jwks()[family])
    if isinstance(header.get("kid"), str):
        jwk["kid"] = header["kid"]
    return {"keys": [jwk]}


def verify_assertion(
    assertion: str,
    *,
    client_id: str,
    jwks: dict[str, Any],
    token_url: str,
    now: float,
    leeway_s: int,
) -> VerifiedAssertion:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise AssertionRefused("the client assertion is not a well-formed JWT") from exc
    alg = str(header.get("alg"))
    if alg not in ASSERTION_ALGORITHMS:
        raise AssertionRefused("the assertion must be signed with RS384 or ES384")
    try:
        keys = public_keys(jwks)
    except UnusableKey as exc:
        raise AssertionRefused("the client's registered keys are unusable") from exc
    kid = header.get("kid")
    key = keys.get(str(kid)) if kid else (next(iter(keys.values())) if len(keys) == 1 else None)
    if key is None or not key_matches_algorithm(key, alg):
        raise AssertionRefused("the assertion's signing key is not registered for the client")
    try:
        claims = jwt.decode(
            assertion,
            key.key,
            algorithms=[alg],
            audience=token_url,
            issuer=client_id,
            leeway=leeway_s,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AssertionRefused("the client assertion has expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise AssertionRefused("the assertion's aud must be the token endpoint's URL") from exc
    except jwt.PyJWTError as exc:
        raise AssertionRefused("the client assertion is not valid") from exc
    exp = int(claims["exp"])
    if exp - now > MAX_AHEAD_S:
        raise AssertionRefused("the assertion's exp is more than five minutes ahead")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= 255:
        raise AssertionRefused("the assertion's jti must be a string of at most 255 characters")
    return VerifiedAssertion(client_id, jti, datetime.fromtimestamp(exp, UTC))
