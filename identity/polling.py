"""The loop a background worker thread runs: look for work, and when there is none, sleep until
woken or the poll interval passes. One look that fails is logged by its type and the worker
goes on (a database blip must not end a worker that outlives requests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def poll_until_stopped(
    *,
    stop: threading.Event,
    wake: threading.Event,
    run_once: Callable[[], bool],
    poll_s: float,
    log: Any,
    error_event: str,
) -> None:
    """Call `run_once` (True: it found work, look again at once) until `stop` is set."""
    while not stop.is_set():
        try:
            busy = run_once()
        except Exception as exc:  # noqa: BLE001 - the worker outlives one bad look
            log.error(error_event, error=type(exc).__name__)
            busy = False
        if not busy:
            wake.wait(poll_s)
            wake.clear()
