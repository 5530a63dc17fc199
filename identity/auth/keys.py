"""Signing keys this service holds (its own token-signing key, the local development key) and
public key sets (JWKS) it trusts.

Private keys live in PEM files readable by the service's user only. A missing key file is created
on first use, so a new installation works without a key ceremony; production mounts its own.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm
from jwt.api_jwk import PyJWK

# Asymmetric algorithms only: never `none`, never HMAC (a public key must not become a secret).
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512"})
ALLOWED_ALGORITHMS = RSA_ALGORITHMS | EC_ALGORITHMS

# RS256 for tokens this service signs: every JWT library verifies it, and RSA verification (the
# per-request cost) is cheap.
OWN_ALGORITHM = "RS256"


class UnusableKey(ValueError):
    """A key or key set that cannot be used; the message says why, never the key material."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with its key id (the RFC 7638 thumbprint of its public half)."""

    private_key: rsa.RSAPrivateKey
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = orjson.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": OWN_ALGORITHM}


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, base64url."""
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = orjson.dumps({m: jwk[m] for m in members}, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """A public JWK's RFC 7638 thumbprint: the key id a key set without `kid` files it under."""
    return _thumbprint(jwk)


def create_key_file(path: Path, make: Callable[[], bytes]) -> None:
    """Write `make()` to `path` (mode 0600) unless the file exists, safely when several workers
    start at once: the bytes go to a private temporary file in the same folder, which is then
    hard-linked into place. A link never replaces a file, so exactly one worker's key lands and
    the others, finding it there, read that one; a reader never sees a half-written key."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(make())
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another worker won: its key is the one
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _new_rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_or_create_signing_key(path: Path) -> SigningKey:
    """The RSA key in `path`, created (mode 0600) when the file does not exist yet."""
    create_key_file(path, _new_rsa_pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise UnusableKey(f"{path} does not hold an RSA private key")
    jwk = orjson.loads(RSAAlgorithm.to_jwk(loaded.public_key()))
    return SigningKey(loaded, _thumbprint(jwk))


def public_keys(jwks: Mapping[str, Any]) -> dict[str, PyJWK]:
    """The usable signing keys of a JWKS by key id. Refuses private keys and symmetric keys, so a
    registered key set can never hold a secret."""
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise UnusableKey("a key set needs a non-empty `keys` list")
    found: dict[str, PyJWK] = {}
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, Mapping):
            raise UnusableKey(f"key {index} is not an object")
        kty = jwk.get("kty")
        if kty not in ("RSA", "EC"):
            raise UnusableKey(f"key {index}: only RSA and EC public keys are accepted")
        if "d" in jwk or "p" in jwk:
            raise UnusableKey(f"key {index} is a private key; register the public half only")
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(dict(jwk))
        except Exception as exc:  # PyJWK raises several types for malformed members
            raise UnusableKey(f"key {index} is malformed") from exc
        kid = str(jwk.get("kid") or _thumbprint(jwk))
        found[kid] = key
    if not found:
        raise UnusableKey("the key set holds no signing key")
    return found


def key_matches_algorithm(key: PyJWK, alg: str) -> bool:
    """An RSA key verifies RS*/PS* only and an EC key ES* only: a token cannot pick a family."""
    if alg in RSA_ALGORITHMS:
        return isinstance(key.key, rsa.RSAPublicKey)
    if alg in EC_ALGORITHMS:
        if not isinstance(key.key, ec.EllipticCurvePublicKey):
            return False
        curve = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}[alg]
        return key.key.curve.name == curve
    return False


def load_jwks_file(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise UnusableKey(f"cannot read a key set from {path}") from exc
    return data
