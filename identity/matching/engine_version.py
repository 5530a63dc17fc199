"""The engine version stored in every decision's evidence: what a decision depends on besides
its policy (the code, the given-name tables, the blocking index), so a replay years later can
tell whether it runs the same engine that decided.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata, resources
from typing import Any

from identity import __version__
from identity.matching.blocking import INDEX_VERSION


def _distribution(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _data_digest() -> str:
    """sha256 (first 12 hex) over the vendored given-name files (`matching/data/`, see its
    SOURCES.md), names and contents: any edit of a file is a new engine version."""
    digest = hashlib.sha256()
    folder = resources.files("identity.matching") / "data"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def name_table_versions() -> dict[str, str]:
    """Every source of given-name equivalence the engine reads, by name: its version. A new
    source adds its entry here."""
    return {
        "nicknames": _distribution("nicknames"),
        # Vendored (matching/data/SOURCES.md): the releases, and the files as shipped here.
        "diminutives.db": "caae757f",
        "census1990": "names-0.3.0",
        "data_sha256": _data_digest(),
    }


@cache
def _engine_version() -> tuple[tuple[str, Any], ...]:
    return (
        ("package", __version__),
        ("name_tables", tuple(sorted(name_table_versions().items()))),
        ("blocking_index", INDEX_VERSION),
    )


def engine_version() -> dict[str, Any]:
    """`{"package": "0.1.0", "name_tables": {"nicknames": "1.0.1"}, "blocking_index": 2}`
    (read once per process; a fresh dict each call, so a caller may keep it)."""
    parts = dict(_engine_version())
    parts["name_tables"] = dict(parts["name_tables"])
    return parts
