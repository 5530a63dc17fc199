"""Key files are created once, whole and private, however many workers start at the same moment
(`identity serve --workers N` starts N processes that all find no key on a new installation)."""

from __future__ import annotations

import multiprocessing
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from identity.auth.keys import load_or_create_signing_key
from identity.idempotency.sealing import load_or_create_sealer, open_text, seal_text

STARTERS = 8


def _start_together(count: int, start: Callable[[], str]) -> list[str]:
    """`count` threads released at once by a barrier, each returning what it loaded (or the
    name of the exception it met)."""
    barrier = threading.Barrier(count)
    results: list[str] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(start())
        except Exception as exc:  # noqa: BLE001 - the test reports what a worker would have met
            results.append(f"failed: {type(exc).__name__}")

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _private_and_alone(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left over


def test_threads_racing_for_the_data_key_all_get_the_one_key(tmp_path: Path) -> None:
    for round_ in range(5):  # each round a fresh folder: the race is on creation
        path = tmp_path / f"round-{round_}" / "data-key"

        def start(path: Path = path) -> str:
            return seal_text(load_or_create_sealer(path), "probe", "ctx")

        results = _start_together(STARTERS, start)
        assert not [r for r in results if r.startswith("failed")], results
        final = load_or_create_sealer(path)
        # Every worker sealed with the key that stayed: the winner's.
        assert all(open_text(final, r, "ctx") == "probe" for r in results)
        _private_and_alone(path)


def test_threads_racing_for_the_signing_key_all_get_the_one_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing-key.pem"
    kids = _start_together(STARTERS, lambda: load_or_create_signing_key(path).kid)
    assert not [k for k in kids if k.startswith("failed")], kids
    assert set(kids) == {load_or_create_signing_key(path).kid}
    _private_and_alone(path)


def _worker(path: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        out.put(load_or_create_signing_key(Path(path)).kid)
    except Exception as exc:  # noqa: BLE001
        out.put(f"failed: {type(exc).__name__}")


def test_processes_starting_together_share_one_signing_key(tmp_path: Path) -> None:
    """Separate processes, as uvicorn's workers are."""
    path = tmp_path / "signing-key.pem"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    out: Any = context.Queue()
    workers = [context.Process(target=_worker, args=(str(path), barrier, out)) for _ in range(4)]
    for w in workers:
        w.start()
    kids = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert not [k for k in kids if k.startswith("failed")], kids
    assert len(set(kids)) == 1
    _private_and_alone(path)
