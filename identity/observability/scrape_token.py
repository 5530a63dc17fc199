"""The scraper's static bearer token: Prometheus sends a fixed credential from a file and cannot
sign the client assertions our token endpoint asks for, and a five-minute access token would
need a sidecar to renew it. So a deployment lists the SHA-256 digests of the tokens it accepts
for /metrics (IDENTITY_METRICS_TOKEN_SHA256) and nothing else: the configuration never holds the
token itself, a new token can be listed beside the old one while Prometheus is switched over, and
deleting a digest revokes its token."""

from __future__ import annotations

import hashlib
import hmac


def digests(setting: str) -> tuple[bytes, ...]:
    """The configured digests (validated as 64 hex digits each by the settings)."""
    return tuple(bytes.fromhex(d.strip()) for d in setting.split(",") if d.strip())


def accepted(token: str, allowed: tuple[bytes, ...]) -> bool:
    """Whether `token` hashes to one of `allowed`; every digest is compared, in constant time."""
    presented = hashlib.sha256(token.encode()).digest()
    found = False
    for digest in allowed:
        found |= hmac.compare_digest(presented, digest)
    return found
