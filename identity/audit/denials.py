"""Refusals of unauthenticated requests, counted in memory and audited as aggregates.

A request that never authenticated (a missing or bad token, a failed client assertion, a source
over its limit) has no tenant and no client: writing one audit row for each let anyone fill the
audit trail and load the database for free. Instead each process counts them per source and
status, and writes one `auth.denied` event per (source, status) per window, when the window ends
(a timer), or at shutdown. Refusals of authenticated callers (403, 404, their 429) are audited one
by one, as before: they name a client and a tenant.

The source is never stored as an address: an IP address can be personal data. It is a keyed
fingerprint (HMAC-SHA256 under a key derived from the data key, 16 hex digits): the same address
gives the same fingerprint across windows, workers and restarts, so a persistent prober stands
out, yet the audit trail alone does not say who it was; an operator holding the key can check
whether a given address is the one (`Sealer.fingerprint`).

The event's object ids carry the aggregate: `source:<fingerprint>`, `count:<n>`,
`from:<ISO time>`, `until:<ISO time>`; they are in the hash chain like any event's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from identity.audit import service as audit
from identity.audit.actor import UNAUTHENTICATED_TENANT, Actor
from identity.db import bind_tenant, transaction
from identity.logging_setup import get_logger

log = get_logger("identity.audit")

# A refused request is audited by status: who was refused, at which route, and why.
DENIAL_OUTCOMES = {401: "denied", 403: "forbidden", 404: "not-found", 429: "rate-limited"}
ACTION = "auth.denied"
# Past this many (source, status) pairs in one window, further sources are counted together
# under OTHER: memory stays bounded whatever the number of addresses an attacker has.
MAX_KEYS = 10_000
OTHER = "other-sources"


@dataclass(frozen=True, slots=True)
class DenialWindow:
    """The refusals counted in one window, by (source, status)."""

    started: float  # epoch seconds
    ended: float
    counts: dict[tuple[str, int], int] = field(default_factory=dict)


class DenialTally:
    """The counts of the window in progress and of windows closed but not yet written.

    A window opens at the first refusal after the previous one closed and lasts `window_s`."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._counts: dict[tuple[str, int], int] = {}
        self._closed: list[DenialWindow] = []

    def add(self, source: str, status: int) -> float:
        """Count one refusal; the seconds until the window in progress ends."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            if self._started is None:
                self._started = now
            key = (source, status)
            if key not in self._counts and len(self._counts) >= MAX_KEYS:
                key = (OTHER, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            return max(0.0, self._started + self.window_s - now)

    def take(self, *, everything: bool = False) -> list[DenialWindow]:
        """The windows that have ended (and, with `everything`, the one in progress)."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            if everything and self._started is not None:
                self._close(now)
            closed, self._closed = self._closed, []
            return closed

    def _roll(self, now: float) -> None:
        if self._started is not None and now >= self._started + self.window_s:
            self._close(self._started + self.window_s)

    def _close(self, ended: float) -> None:
        assert self._started is not None
        if self._counts:
            self._closed.append(DenialWindow(self._started, ended, self._counts))
        self._started, self._counts = None, {}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def write_window(
    sessions: sessionmaker[Session], fingerprint: Callable[[str], str], window: DenialWindow
) -> None:
    """One audit event per (source, status) of the window, in the unauthenticated chain, in one
    transaction (the chain head is locked once)."""
    actor = Actor(UNAUTHENTICATED_TENANT, None, None)
    with transaction(sessions) as session:
        bind_tenant(session, UNAUTHENTICATED_TENANT)
        with audit.deferred(session):
            for (source, status), count in sorted(window.counts.items()):
                shown = source if source == OTHER else fingerprint(source)
                audit.record(
                    session,
                    actor,
                    action=ACTION,
                    outcome=DENIAL_OUTCOMES.get(status, "denied"),
                    http_status=status,
                    object_type="source",
                    object_ids=[
                        f"source:{shown}",
                        f"count:{count}",
                        f"from:{_iso(window.started)}",
                        f"until:{_iso(window.ended)}",
                    ],
                )


class DenialAudit:
    """The tally, and the timer that writes each window when it ends. `add` is O(1) and never
    touches the database; writing happens on the timer's thread (or at `close`)."""

    def __init__(self, tally: DenialTally, write: Callable[[DenialWindow], None]) -> None:
        self.tally = tally
        self._write = write
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def add(self, source: str, status: int) -> None:
        remaining = self.tally.add(source, status)
        with self._lock:
            if self._timer is None:
                # A little after the window's end, so the window has rolled when it fires.
                self._timer = threading.Timer(remaining + 0.05, self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()
        # Refusals in the window now in progress arm the next timer themselves.

    def flush(self, *, everything: bool = False) -> int:
        """Write the ended windows (all, with `everything`); how many events were written.
        A failure is logged, never raised: the refusals stand whether or not they were stored."""
        written = 0
        for window in self.tally.take(everything=everything):
            try:
                self._write(window)
                written += len(window.counts)
            except Exception as exc:  # noqa: BLE001 - logged; the counts of that window are lost
                log.error("denial_audit_failed", error=type(exc).__name__, lost=len(window.counts))
        return written

    def close(self) -> None:
        """At shutdown: stop the timer and write everything counted."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.flush(everything=True)
