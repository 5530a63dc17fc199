"""One delivery attempt: the event signed as a Security Event Token and POSTed to the webhook.

The body is a SET (RFC 8417) delivered as RFC 8935 push delivery: a JWT signed (RS256) with the
key this service signs its access tokens with, so a payer verifies it with the JWKS it already
trusts (`/.well-known/jwks.json`), with any JWT library, and holds no shared secret that could
leak or need rotating. `aud` is the receiving client's id, `jti` the delivery id (the same on
every retry: a receiver drops repeats by it).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt

from identity.auth.keys import OWN_ALGORITHM, SigningKey
from identity.models import WebhookDelivery

EVENT_URI = "urn:identity:event:review-settled"
CONTENT_TYPE = "application/secevent+jwt"


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    http_status: int | None
    error: str | None  # a code: timeout, connect, redirect, http-error, tls…


def sign(
    delivery: WebhookDelivery, key: SigningKey, *, issuer: str, now: float | None = None
) -> str:
    """The delivery as a signed SET: ids and outcome only, under `events`."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": delivery.client_id,
        "iat": int(now if now is not None else time.time()),
        "jti": delivery.id,
        "events": {EVENT_URI: delivery.payload},
    }
    return jwt.encode(
        claims,
        key.private_key,
        algorithm=OWN_ALGORITHM,
        headers={"typ": "secevent+jwt", "kid": key.kid},
    )


def send(client: httpx.Client, url: str, body: str) -> Attempt:
    """POST once; any 2xx is delivered. Redirects are never followed (a 3xx is a failure) and
    the answer's body is never read."""
    try:
        with client.stream(
            "POST",
            url,
            content=body.encode(),
            headers={"Content-Type": CONTENT_TYPE, "Accept": "application/json"},
        ) as response:
            status = response.status_code
    except httpx.TimeoutException:
        return Attempt(False, None, "timeout")
    except httpx.ConnectError:
        return Attempt(False, None, "connect")
    except httpx.HTTPError as exc:
        return Attempt(False, None, type(exc).__name__[:48])
    if 200 <= status < 300:
        return Attempt(True, status, None)
    return Attempt(False, status, "redirect" if 300 <= status < 400 else "http-status")


def http_client(timeout_s: float) -> httpx.Client:
    """One client per worker: bounded connect, write and read times, no redirects, no proxy
    from the environment (an event goes straight to the registered URL)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )


def next_attempt(
    now: datetime, attempts: int, *, base_s: float, max_s: float, rng: random.Random | None = None
) -> datetime:
    """Exponential back-off with jitter: base · 2^(attempts-1), capped, then scaled by a random
    factor in [0.5, 1) so that receivers that came back are not hit by every sender at once."""
    wait = min(max_s, base_s * 2 ** max(0, attempts - 1))
    factor = 0.5 + 0.5 * (rng or random).random()
    return now + timedelta(seconds=wait * factor)
