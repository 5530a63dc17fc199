"""Matching's worker threads (identity/api_deps.py `in_match_thread`): at most `match_threads`
requests match at once in a process, the rest wait their turn, and every one is answered."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from tests.conftest import TENANT, LiveServer
from tests.factories import fhir_patient


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("threads", [1, 3])
def test_no_more_than_match_threads_requests_match_at_once(
    settings: Settings, active_policy: str, household: None, threads: int
) -> None:
    token = mint_dev_token(settings, tenant=TENANT, client_id="threads")
    served = settings.model_copy(update={"match_threads": threads})
    with LiveServer(served) as server:
        app: Any = server.server.config.app
        limiter = app.state.match_limiter
        assert limiter.total_tokens == threads
        seen_busy: set[int] = set()
        seen_waiting = 0
        done = threading.Event()

        def watch() -> None:  # samples the limiter while the requests run
            nonlocal seen_waiting
            while not done.is_set():
                stats = limiter.statistics()
                seen_busy.add(stats.borrowed_tokens)
                seen_waiting = max(seen_waiting, stats.tasks_waiting)

        watcher = threading.Thread(target=watch)
        watcher.start()
        bodies = [
            {"patient": fhir_patient("Ana", f"Zed{i}", f"1971-02-{10 + i % 18}")} for i in range(48)
        ]
        try:
            with server.client(token) as http, ThreadPoolExecutor(12) as pool:
                answers = list(pool.map(lambda b: http.post("/v1/match", json=b), bodies))
        finally:
            done.set()
            watcher.join()
    assert [a.status_code for a in answers] == [200] * len(bodies)
    assert max(seen_busy) == threads  # the bound was reached ...
    assert seen_waiting > 0  # ... with requests queued behind it, never past it
