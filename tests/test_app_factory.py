"""The served process's app: `identity serve` builds it with the collector tuned for a server."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from identity.app import GC_THRESHOLDS, app_factory


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_collector")
def test_the_served_app_runs_with_a_tuned_collector(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IDENTITY_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    gc.set_threshold(700, 10, 10)
    app = app_factory()
    assert isinstance(app, FastAPI)
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0  # what was imported is left out of every collection
