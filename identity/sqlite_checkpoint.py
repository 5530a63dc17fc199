"""SQLite's WAL checkpoints, taken off the commit path by one background thread per server.

Left to itself, SQLite checkpoints inside the commit that takes the write-ahead log past 1,000
pages: that commit (with group commit, a whole group of requests) waits while those pages are
copied into the database file and the file is synced. A decision's evidence is tens of
kilobytes, so at 1M members one request in ~25 paid for a checkpoint, and those requests made the
p99. Here the server's connections never checkpoint (`wal_autocheckpoint=0`); a thread of its own
runs a PASSIVE checkpoint a few times a second instead. PASSIVE never blocks a reader or the
writer: it copies what no reader still needs and leaves the rest to the next round. The work is
the same; only who waits for it changes.

Only for a SQLite file served by this process (`identity serve`: its engine is made with
`checkpoints_elsewhere=True`); command-line tools keep SQLite's own checkpoints. A server killed
before a checkpoint loses nothing: the log is the database until it is copied, and the next open
replays it.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass

from sqlalchemy import Engine

from identity.db import is_sqlite_file
from identity.logging_setup import get_logger

log = get_logger("identity.sqlite")

INTERVAL_S = 0.25


@dataclass(frozen=True, slots=True)
class Round:
    """One checkpoint's answer: whether a reader or writer held it back, the log's frames, and
    how many of them are now in the database file."""

    busy: bool
    log_frames: int
    checkpointed: int


class Checkpointer:
    """One thread checkpointing one SQLite file every `interval_s` seconds until stopped."""

    def __init__(self, path: str, interval_s: float = INTERVAL_S) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self.rounds = 0
        self.last: Round | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the thread after its current round (a last round is taken on the way out)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=5, check_same_thread=False)
        try:
            connection.execute("PRAGMA synchronous=NORMAL")  # as the server's connections
            while not self._stop.wait(self._interval_s):
                self._round(connection)
            self._round(connection)
        finally:
            connection.close()

    def _round(self, connection: sqlite3.Connection) -> None:
        try:
            busy, frames, done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # e.g. the file went away under a test; try again later
            log.warning("sqlite_checkpoint_failed", error=type(exc).__name__)
            return
        self.rounds += 1
        self.last = Round(bool(busy), int(frames), int(done))


def start_for(engine: Engine) -> Checkpointer | None:
    """A running checkpointer for the engine's database when it is a SQLite file, else None."""
    database = engine.url.database
    if not is_sqlite_file(str(engine.url)) or database is None:
        return None
    checkpointer = Checkpointer(database)
    checkpointer.start()
    return checkpointer
