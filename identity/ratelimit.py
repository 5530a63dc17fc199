"""Token-bucket rate limits per client and per tenant (and, before authentication, per source
address: identity/auth/source_limit.py), and the RateLimit header fields.

Pure: no FastAPI, no I/O. The auth dependency calls `acquire(client_id, tenant)` once per
authenticated request and raises `RateLimited` when the decision refuses it; other limits name
their own policies (`RateLimiter.of`) and take with `take`.

Each request must take one token from its client's bucket and one from its tenant's bucket, both or
neither: a refused request consumes nothing, so a client hammering past its own quota drains its
tenant's bucket only by the requests that were actually served, and its neighbours keep theirs.

Headers follow draft-ietf-httpapi-ratelimit-headers (-10/-11, the structured-field form):
  RateLimit-Policy: "client";q=100;w=2, "tenant";q=400;w=2
  RateLimit: "client";r=57;t=1
q is the burst (bucket size), w the seconds an empty bucket takes to fill again, r the whole tokens
left, t the seconds until the bucket is full again. On a refusal t equals Retry-After (the draft
asks that Retry-After not point earlier than the end of the effective window).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from identity.config import Settings

# Token arithmetic is in floats; this keeps 0.9999999 (three refills of 1/3) counting as a token.
_EPS = 1e-9

CLIENT = "client"
TENANT = "tenant"


def _ceil(x: float) -> int:
    return max(0, math.ceil(x - _EPS))


@dataclass(frozen=True, slots=True)
class PolicyState:
    """One limit as seen by one request: the policy and what is left of it."""

    name: str
    quota: int  # the burst: the most requests that can be made at once
    window_s: int  # seconds for an empty bucket to fill again
    remaining: int  # whole tokens left after this request
    reset_s: int  # seconds until the bucket is full again (until the next token, when refused)

    def policy_item(self) -> str:
        return f'"{self.name}";q={self.quota};w={self.window_s}'

    def limit_item(self) -> str:
        return f'"{self.name}";r={self.remaining};t={self.reset_s}'


@dataclass(frozen=True, slots=True)
class LimitDecision:
    allowed: bool
    retry_after_s: int  # 0 when allowed, >= 1 when refused
    policies: tuple[PolicyState, ...] = ()
    limiting: str | None = None  # the policy nearest its limit (the refusing one, when refused)

    def headers(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit for every response; Retry-After too when refused."""
        if not self.policies:
            return {}
        nearest = next(p for p in self.policies if p.name == self.limiting)
        headers = {
            "RateLimit-Policy": ", ".join(p.policy_item() for p in self.policies),
            "RateLimit": nearest.limit_item(),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class _Limit:
    """One kind of limit (client or tenant): its rate, its burst and the buckets it keeps."""

    def __init__(self, name: str, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"{name} limit: rate must be > 0 and burst >= 1 (rate 0 disables it)")
        self.name = name
        self.rate = rate
        self.burst = burst
        self.fill_s = burst / rate
        self.window_s = max(1, _ceil(self.fill_s))
        self.buckets: dict[str, _Bucket] = {}

    def bucket(self, key: str, now: float) -> _Bucket:
        """The key's bucket, refilled to `now`; a missing bucket is a full one."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(float(self.burst), now)
        elif now > bucket.updated:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def peek(self, key: str, now: float) -> _Bucket:
        """The key's bucket as it would be at `now`, without keeping one for a new key (a check
        that takes nothing must not grow the table)."""
        bucket = self.buckets.get(key)
        if bucket is None:
            return _Bucket(float(self.burst), now)
        return _Bucket(min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate), now)

    def drop_full(self, now: float) -> None:
        """Forget buckets that have refilled: a full bucket and no bucket behave the same."""
        full = [
            key
            for key, b in self.buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst - _EPS
        ]
        for key in full:
            del self.buckets[key]


class RateLimiter:
    """Thread-safe (sync endpoints run in a thread pool): one lock around O(1) work per request.

    Holds one or more named limits; a request takes one token from each limit's bucket for its
    key, from all of them or from none."""

    in_process = True  # decides from memory: cheap enough to call on the event loop

    def __init__(
        self,
        client_rate: float,
        client_burst: int,
        tenant_rate: float,
        tenant_burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._setup(
            ((CLIENT, client_rate, client_burst), (TENANT, tenant_rate, tenant_burst)), clock
        )

    @classmethod
    def of(
        cls, limits: Sequence[tuple[str, float, int]], clock: Callable[[], float] = time.monotonic
    ) -> RateLimiter:
        """A limiter of named limits (name, rate per second, burst); a rate of 0 disables one."""
        limiter = cls.__new__(cls)
        limiter._setup(limits, clock)
        return limiter

    def _setup(self, limits: Sequence[tuple[str, float, int]], clock: Callable[[], float]) -> None:
        self._limits = make_limits(limits)
        self._clock = clock
        self._lock = threading.Lock()
        # Sweeping idle buckets at most once per longest refill time keeps it amortised O(1).
        self._sweep_every = max([1.0, *(x.fill_s for x in self._limits)])
        self._last_sweep = clock()

    @property
    def enabled(self) -> bool:
        return bool(self._limits)

    def close(self) -> None:
        """Nothing to release (the interface of the shared store, identity/ratelimit_store.py)."""

    def tracked(self) -> int:
        """How many buckets are held (for tests and curiosity): bounded by recent activity."""
        with self._lock:
            return sum(len(x.buckets) for x in self._limits)

    def acquire(self, client_id: str, tenant: str) -> LimitDecision:
        """Take one token from the client's and the tenant's buckets, or from neither."""
        return self.take({CLIENT: client_id, TENANT: tenant})

    def take(self, keys: Mapping[str, str], *, consume: bool = True) -> LimitDecision:
        """One token from each limit's bucket for `keys[limit name]`, or from none. With
        `consume=False` only the decision: whether a token is there (nothing is taken)."""
        if not self._limits:
            return LimitDecision(allowed=True, retry_after_s=0)
        with self._lock:
            now = self._clock()
            if now - self._last_sweep >= self._sweep_every:
                for limit in self._limits:
                    limit.drop_full(now)
                self._last_sweep = now
            taken = [
                (limit, (limit.bucket if consume else limit.peek)(keys[limit.name], now))
                for limit in self._limits
            ]
            decision = decide([(limit, b.tokens) for limit, b in taken], consume=consume)
            if decision.allowed and consume:
                for _, bucket in taken:
                    bucket.tokens -= 1
        return decision


def make_limits(limits: Sequence[tuple[str, float, int]]) -> tuple[_Limit, ...]:
    """The enabled limits among (name, rate per second, burst): a rate of 0 disables one."""
    if any(rate < 0 for _, rate, _ in limits):
        raise ValueError("rates must be >= 0 (0 disables a limit)")
    return tuple(_Limit(name, rate, burst) for name, rate, burst in limits if rate > 0)


def decide(found: Sequence[tuple[_Limit, float]], *, consume: bool = True) -> LimitDecision:
    """The decision from the tokens each limit's bucket holds, refilled to now, before this
    request: served when every bucket holds a whole token. Shared by the in-process buckets and
    the database's (identity/ratelimit_store.py), so both answer with the same fields."""
    short = [(limit, tokens) for limit, tokens in found if tokens < 1 - _EPS]
    if short:
        return _refusal(found, short)
    after = [(limit, tokens - 1 if consume else tokens) for limit, tokens in found]
    states = tuple(
        PolicyState(
            limit.name,
            limit.burst,
            limit.window_s,
            remaining=int(tokens + _EPS),
            reset_s=_ceil((limit.burst - tokens) / limit.rate),
        )
        for limit, tokens in after
    )
    nearest = min(states, key=lambda s: s.remaining)  # ties: the first listed
    return LimitDecision(True, 0, states, nearest.name)


def _refusal(
    found: Sequence[tuple[_Limit, float]], short: Sequence[tuple[_Limit, float]]
) -> LimitDecision:
    waits = {limit.name: max(1, _ceil((1 - tokens) / limit.rate)) for limit, tokens in short}
    states = tuple(
        PolicyState(
            limit.name,
            limit.burst,
            limit.window_s,
            remaining=int(tokens + _EPS),
            reset_s=waits.get(limit.name, _ceil((limit.burst - tokens) / limit.rate)),
        )
        for limit, tokens in found
    )
    # The limit that keeps the caller waiting longest is the one to report and to honour.
    limiting = max(waits, key=lambda name: waits[name])
    return LimitDecision(False, waits[limiting], states, limiting)


def build_rate_limiter(
    settings: Settings, clock: Callable[[], float] = time.monotonic
) -> RateLimiter:
    return RateLimiter(
        client_rate=settings.rate_limit_client_per_s,
        client_burst=settings.rate_limit_client_burst,
        tenant_rate=settings.rate_limit_tenant_per_s,
        tenant_burst=settings.rate_limit_tenant_burst,
        clock=clock,
    )
