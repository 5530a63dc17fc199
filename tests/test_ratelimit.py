"""Token buckets per client and per tenant, driven by a clock the test moves by hand."""

from __future__ import annotations

import threading

import pytest

from identity.config import Settings
from identity.errors import RateLimited, operation_outcome, problem_details
from identity.ratelimit import LimitDecision, RateLimiter, build_rate_limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(
    clock: Clock,
    client: tuple[float, int] = (1.0, 3),
    tenant: tuple[float, int] = (0.0, 1),
) -> RateLimiter:
    return RateLimiter(client[0], client[1], tenant[0], tenant[1], clock=clock)


def take(rl: RateLimiter, n: int, client: str = "a", tenant: str = "t") -> list[LimitDecision]:
    return [rl.acquire(client, tenant) for _ in range(n)]


def test_burst_then_refusal_then_refill() -> None:
    clock = Clock()
    rl = limiter(clock, client=(1.0, 3))
    assert [d.allowed for d in take(rl, 4)] == [True, True, True, False]
    clock.advance(0.5)
    assert not rl.acquire("a", "t").allowed  # half a token is not a token
    clock.advance(0.5)
    assert rl.acquire("a", "t").allowed
    assert not rl.acquire("a", "t").allowed
    clock.advance(10)  # refills to the burst, never beyond
    assert [d.allowed for d in take(rl, 4)] == [True, True, True, False]


@pytest.mark.parametrize(
    ("rate", "waited", "retry_after"),
    [
        (1.0, 0.0, 1),  # a whole second for the next token
        (0.25, 0.0, 4),  # slow refill: four seconds
        (0.25, 1.5, 3),  # 2.5 s still to go: rounded up
        (50.0, 0.0, 1),  # 20 ms to go: never less than one second
    ],
)
def test_retry_after(rate: float, waited: float, retry_after: int) -> None:
    clock = Clock()
    rl = limiter(clock, client=(rate, 1))
    assert rl.acquire("a", "t").allowed
    clock.advance(waited)
    refused = rl.acquire("a", "t")
    assert not refused.allowed
    assert refused.retry_after_s == retry_after
    assert refused.headers()["Retry-After"] == str(retry_after)


def test_allowed_decision_has_no_retry_after() -> None:
    decision = limiter(Clock()).acquire("a", "t")
    assert decision.allowed
    assert decision.retry_after_s == 0
    assert "Retry-After" not in decision.headers()


def test_one_client_over_quota_leaves_another_of_the_same_tenant_unaffected() -> None:
    clock = Clock()
    rl = limiter(clock, client=(1.0, 5), tenant=(10.0, 20))
    noisy = take(rl, 50, client="noisy")
    assert sum(d.allowed for d in noisy) == 5
    # The 45 refusals took nothing from the tenant: 15 of its 20 tokens are left for the others.
    quiet = take(rl, 5, client="quiet")
    assert all(d.allowed for d in quiet)
    assert quiet[-1].policies[1].remaining == 10


def test_tenant_bucket_is_shared_by_its_clients() -> None:
    clock = Clock()
    rl = limiter(clock, client=(10.0, 10), tenant=(1.0, 12))
    assert all(d.allowed for d in take(rl, 10, client="a"))
    assert [d.allowed for d in take(rl, 3, client="b")] == [True, True, False]
    refused = rl.acquire("c", "t")
    assert not refused.allowed
    assert refused.limiting == "tenant"
    assert refused.headers()["RateLimit"] == '"tenant";r=0;t=1'
    # Another tenant is a different bucket.
    assert rl.acquire("c", "other").allowed


def test_refusal_by_the_tenant_takes_nothing_from_the_client() -> None:
    clock = Clock()
    rl = limiter(clock, client=(1.0, 5), tenant=(1.0, 2))
    take(rl, 2, client="a")
    assert all(not d.allowed for d in take(rl, 10, client="b"))
    clock.advance(3)  # the tenant refills; b's bucket never lost a token
    assert [d.allowed for d in take(rl, 3, client="b")] == [True, True, False]
    # Refused again by the tenant; b's own bucket shows only the 2 requests served.
    assert rl.acquire("b", "t").policies[0].remaining == 3


def test_both_empty_reports_the_longer_wait() -> None:
    clock = Clock()
    rl = limiter(clock, client=(1.0, 1), tenant=(0.25, 1))
    assert rl.acquire("a", "t").allowed
    refused = rl.acquire("a", "t")
    assert (refused.limiting, refused.retry_after_s) == ("tenant", 4)


@pytest.mark.parametrize(
    ("client", "tenant", "limited_by"),
    [
        ((0.0, 1), (1.0, 2), "tenant"),  # no client limit
        ((1.0, 2), (0.0, 1), "client"),  # no tenant limit
    ],
)
def test_rate_zero_disables_that_limit(
    client: tuple[float, int], tenant: tuple[float, int], limited_by: str
) -> None:
    rl = limiter(Clock(), client=client, tenant=tenant)
    decisions = take(rl, 3)
    assert [d.allowed for d in decisions] == [True, True, False]
    assert [p.name for p in decisions[0].policies] == [limited_by]
    assert limited_by in decisions[0].headers()["RateLimit-Policy"]


def test_both_rates_zero_allows_everything_without_headers() -> None:
    rl = limiter(Clock(), client=(0.0, 1), tenant=(0.0, 1))
    assert not rl.enabled
    decisions = take(rl, 1000)
    assert all(d.allowed for d in decisions)
    assert decisions[0].headers() == {}
    assert rl.tracked() == 0


def test_idle_buckets_are_dropped_once_full_again() -> None:
    clock = Clock()
    rl = limiter(clock, client=(1.0, 4), tenant=(10.0, 100))
    for i in range(50):
        rl.acquire(f"client-{i}", f"tenant-{i % 5}")
    assert rl.tracked() == 55
    clock.advance(10)  # the longest refill time: a sweep runs and every bucket is full again
    rl.acquire("client-0", "tenant-0")
    assert rl.tracked() == 2  # only the buckets of the request just made
    # A dropped bucket comes back full: forgetting it changed nothing.
    assert [d.allowed for d in take(rl, 4, client="client-1", tenant="tenant-1")] == [
        True,
        True,
        True,
        True,
    ]


def test_busy_buckets_are_kept() -> None:
    clock = Clock()
    rl = limiter(clock, client=(1.0, 4))
    clock.advance(3.5)
    take(rl, 4, client="busy")  # its bucket is empty
    clock.advance(0.5)  # a sweep runs (every 4 s here): busy has half a token, so it stays
    rl.acquire("other", "t")
    assert rl.tracked() == 2
    clock.advance(0.5)
    assert [d.allowed for d in take(rl, 2, client="busy")] == [True, False]


def test_headers_follow_the_structured_field_draft() -> None:
    clock = Clock()
    rl = limiter(clock, client=(50.0, 100), tenant=(200.0, 400))
    first = rl.acquire("a", "t").headers()
    assert first["RateLimit-Policy"] == '"client";q=100;w=2, "tenant";q=400;w=2'
    # The client's bucket is the nearer to its limit: 99 left, full again within a second.
    assert first["RateLimit"] == '"client";r=99;t=1'
    take(rl, 99)
    refused = rl.acquire("a", "t")
    assert refused.headers() == {
        "RateLimit-Policy": '"client";q=100;w=2, "tenant";q=400;w=2',
        "RateLimit": '"client";r=0;t=1',
        "Retry-After": "1",
    }


def test_nearest_limit_is_the_one_with_fewest_requests_left() -> None:
    clock = Clock()
    rl = limiter(clock, client=(1.0, 10), tenant=(1.0, 12))
    take(rl, 8, client="a")
    # b: client 9 left, tenant 3 left -> the tenant is reported.
    assert rl.acquire("b", "t").headers()["RateLimit"] == '"tenant";r=3;t=9'


def test_window_is_at_least_one_second() -> None:
    rl = limiter(Clock(), client=(1000.0, 5))
    assert rl.acquire("a", "t").headers()["RateLimit-Policy"] == '"client";q=5;w=1'


@pytest.mark.parametrize(
    ("client", "tenant"),
    [((-1.0, 1), (1.0, 1)), ((1.0, 0), (1.0, 1)), ((1.0, 1), (1.0, 0))],
)
def test_invalid_limits_are_refused(client: tuple[float, int], tenant: tuple[float, int]) -> None:
    with pytest.raises(ValueError, match="rate"):
        limiter(Clock(), client=client, tenant=tenant)


def test_thread_safe_under_contention() -> None:
    clock = Clock()  # frozen: no refill, so exactly the burst is served
    rl = limiter(clock, client=(1.0, 500), tenant=(1.0, 10_000))
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        got = [rl.acquire("a", "t").allowed for _ in range(200)]
        with lock:
            allowed.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 500
    assert rl.acquire("b", "t").policies[1].remaining == 10_000 - 501


def test_build_from_settings() -> None:
    settings = Settings(
        rate_limit_client_per_s=2.0,
        rate_limit_client_burst=2,
        rate_limit_tenant_per_s=0.0,
    )
    clock = Clock()
    rl = build_rate_limiter(settings, clock=clock)
    assert [d.allowed for d in take(rl, 3)] == [True, True, False]
    assert take(rl, 1)[0].headers()["RateLimit-Policy"] == '"client";q=2;w=1'


def test_default_settings_build_both_limits() -> None:
    headers = build_rate_limiter(Settings()).acquire("a", "t").headers()
    assert headers["RateLimit-Policy"] == '"client";q=100;w=2, "tenant";q=400;w=2'


def test_rate_limited_error_carries_the_headers() -> None:
    clock = Clock()
    rl = limiter(clock, client=(0.5, 1))
    rl.acquire("a", "t")
    decision = rl.acquire("a", "t")
    err = RateLimited(decision.retry_after_s, headers=decision.headers())
    assert (err.status, err.code) == (429, "rate-limited")
    assert err.headers == {
        "RateLimit-Policy": '"client";q=1;w=2',
        "RateLimit": '"client";r=0;t=2',
        "Retry-After": "2",
    }
    assert problem_details(err)["status"] == 429
    assert operation_outcome(err)["issue"][0]["code"] == "throttled"
    assert RateLimited(0).headers == {"Retry-After": "1"}


def test_named_limits_and_a_check_that_takes_nothing() -> None:
    """`RateLimiter.of` (the per-source limits): a check with consume=False neither takes a token
    nor keeps a bucket for a key it has not seen."""
    clock = Clock()
    rl = RateLimiter.of([("source-failures", 1.0, 2)], clock=clock)
    key = {"source-failures": "203.0.113.7"}
    assert all(rl.take(key, consume=False).allowed for _ in range(5))
    assert rl.tracked() == 0
    assert [rl.take(key).allowed for _ in range(3)] == [True, True, False]
    refused = rl.take(key, consume=False)
    assert (refused.allowed, refused.retry_after_s, refused.limiting) == (
        False,
        1,
        "source-failures",
    )
    assert refused.headers()["RateLimit-Policy"] == '"source-failures";q=2;w=2'
    clock.advance(1)
    assert rl.take(key, consume=False).allowed
    assert rl.take(key).allowed
    assert not rl.take(key).allowed
    assert RateLimiter.of([("off", 0.0, 1)]).enabled is False
