"""Rate limits shared by every service instance: the client and tenant token buckets kept in
PostgreSQL (table `rate_limit_bucket`, function `identity_rate_take`, migration 0019).

Several instances behind one load balancer must draw on one budget per client and per tenant, or
each instance would grant the whole quota again. One statement per request refills, decides and
takes for both buckets under row locks (one round trip); the decision's fields come from
identity.ratelimit.decide, so the RateLimit headers read the same whichever store answers.

It runs in autocommit on an engine of its own: the token is taken whether the request later
commits or fails (as in memory); the pool skips the pre-ping the request engine does, which
would cost a second round trip, and its commits do not wait for the WAL (the table is unlogged:
counters, not records). A connection found dead is replaced and the statement tried once
more.

Which store: `IDENTITY_RATE_LIMIT_STORE` (auto: the database on PostgreSQL, memory on SQLite,
which is one process by design).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from identity.config import Settings
from identity.db import is_sqlite
from identity.ratelimit import (
    CLIENT,
    TENANT,
    LimitDecision,
    RateLimiter,
    build_rate_limiter,
    decide,
    make_limits,
)

_TAKE = text(
    "SELECT identity_rate_take(CAST(:names AS text[]), CAST(:keys AS text[]), "
    "CAST(:rates AS double precision[]), CAST(:bursts AS double precision[]), :consume)"
)


class SharedRateLimiter:
    """The RateLimiter's interface over the database's buckets (thread-safe: the pool is)."""

    in_process = False  # waits on the database: callers run it in a worker thread

    def __init__(self, engine: Engine, limits: Sequence[tuple[str, float, int]]) -> None:
        self._limits = make_limits(limits)  # the order here is the order rows are locked in
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._params = {
            "names": [x.name for x in self._limits],
            "rates": [x.rate for x in self._limits],
            "bursts": [float(x.burst) for x in self._limits],
        }

    @property
    def enabled(self) -> bool:
        return bool(self._limits)

    def acquire(self, client_id: str, tenant: str) -> LimitDecision:
        """Take one token from the client's and the tenant's buckets, or from neither."""
        return self.take({CLIENT: client_id, TENANT: tenant})

    def take(self, keys: Mapping[str, str], *, consume: bool = True) -> LimitDecision:
        if not self._limits:
            return LimitDecision(allowed=True, retry_after_s=0)
        params = {
            **self._params,
            "keys": [keys[x.name] for x in self._limits],
            "consume": consume,
        }
        for attempt in (1, 2):
            try:
                with self._engine.connect() as conn:
                    found = conn.execute(_TAKE, params).scalar_one()
                break
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        return decide(list(zip(self._limits, found, strict=True)), consume=consume)

    def close(self) -> None:
        self._engine.dispose()


def _limits(settings: Settings) -> list[tuple[str, float, int]]:
    return [
        (CLIENT, settings.rate_limit_client_per_s, settings.rate_limit_client_burst),
        (TENANT, settings.rate_limit_tenant_per_s, settings.rate_limit_tenant_burst),
    ]


def shared_engine(settings: Settings) -> Engine:
    """A small pool for the limiter alone: no pre-ping (a dead connection is retried instead)."""
    return create_engine(
        settings.database_url,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=False,
        pool_timeout=settings.db_connect_timeout_s,
        connect_args={
            "connect_timeout": max(1, int(settings.db_connect_timeout_s)),
            # Counters, not records: no commit of this pool waits for a WAL flush.
            "options": "-c synchronous_commit=off",
        },
    )


def choose_rate_limiter(settings: Settings) -> RateLimiter | SharedRateLimiter:
    """The store the settings and the database call for (see the module's docstring)."""
    store = settings.rate_limit_store
    sqlite = is_sqlite(settings.database_url)
    if store == "database" and sqlite:
        raise ValueError(
            "IDENTITY_RATE_LIMIT_STORE=database needs PostgreSQL; SQLite keeps them in memory"
        )
    if store == "memory" or (store == "auto" and sqlite):
        return build_rate_limiter(settings)
    return SharedRateLimiter(shared_engine(settings), _limits(settings))
