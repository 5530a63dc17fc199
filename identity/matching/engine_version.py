"""The engine version stored in every decision's evidence: what a decision depends on besides
its policy (the code, the given-name tables, the blocking index), so a replay years later can
tell whether it runs the same engine that decided.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any

from identity import __version__
from identity.matching.blocking import INDEX_VERSION


def _distribution(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def name_table_versions() -> dict[str, str]:
    """Every source of given-name equivalence the engine reads, by name: its version. A new
    source (a second diminutives table, say) adds its entry here."""
    return {"nicknames": _distribution("nicknames")}


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
