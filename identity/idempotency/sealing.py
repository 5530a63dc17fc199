"""Remembered answers are sealed at rest (AES-256-GCM): they can hold what must never sit in the
database in plain text — a match token, a member's identifiers and candidates.

The key is a 32-byte file readable by the service's user only, created on first start when absent
(production mounts its own). The row's identity (tenant, client, key) is bound in as associated
data, so a sealed answer moved to another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.auth.keys import create_key_file

NONCE_BYTES = 12


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        # A separate key for fingerprints, derived so that the data key itself never keys an HMAC.
        self._fingerprint_key = hashlib.sha256(b"identity/fingerprint/v1\x00" + key).digest()

    def fingerprint(self, value: str, length: int = 16) -> str:
        """A keyed, one-way pseudonym of `value` (hex): the same value always gives the same
        fingerprint under this key, and without the key it cannot be turned back or guessed by
        trying every value (an IPv4 address has only 2^32)."""
        digest = hmac.new(self._fingerprint_key, value.encode(), hashlib.sha256).hexdigest()
        return digest[:length]

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes | None:
        """The plaintext, or None when the seal does not open (another key, another row)."""
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            return None


def seal_text(sealer: Sealer, text: str, context: str) -> str:
    """A short secret (a match token) sealed for a text column: base64url of nonce + ciphertext."""
    return base64.urlsafe_b64encode(sealer.seal(text.encode(), context)).decode()


def open_text(sealer: Sealer, sealed: str, context: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
    except ValueError:
        return None
    opened = sealer.open(raw, context)
    return opened.decode() if opened is not None else None


def load_or_create_sealer(path: Path) -> Sealer:
    """The key in `path`, created when absent (atomically: see `create_key_file`)."""
    create_key_file(path, lambda: AESGCM.generate_key(bit_length=256))
    key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} must hold a 32-byte key")
    return Sealer(key)
