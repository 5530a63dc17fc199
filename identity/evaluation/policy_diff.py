"""What changed between two policies, by section, in words an analyst reads (pure).

Rules, guards and comparisons are matched by name (a rule moved in the file is not a change);
a changed m or u shows the level's match weight, log2(m/u), before and after, since that is what
the decision adds up. Any section this module does not know (a newer policy field) is still
compared, value by value, so a difference is never hidden.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from identity.matching.policy import Policy

# Sections in the order a reader meets them in a policy file; others follow, alphabetically.
_ORDER = ("label", "name", "description", "blocking", "rules", "decision", "guards")


@dataclass(frozen=True, slots=True)
class Change:
    section: str
    text: str


def _show(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str)


def _named(items: Any) -> bool:
    return (
        isinstance(items, list)
        and bool(items)
        and all(isinstance(i, dict) and "name" in i for i in items)
    )


def _flatten(value: Any, path: str, out: dict[str, Any], entities: dict[str, Any]) -> None:
    """path -> leaf value; a named item of a list (a rule, a guard) is `list[name]`, and is
    also recorded whole in `entities` (to say "added" once rather than field by field)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out, entities)
    elif _named(value):
        for item in value:
            where = f"{path}[{item['name']}]"
            entities[where] = item
            _flatten({k: v for k, v in item.items() if k != "name"}, where, out, entities)
    else:
        out[path] = value


def _weight(m: Any, u: Any) -> str:
    if not isinstance(m, float | int) or not isinstance(u, float | int) or m <= 0 or u <= 0:
        return "-"
    return f"{math.log2(m / u):+.2f}"


def _parameter_changes(a: dict[str, Any], b: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """m/u of each comparison level, with its weight: one line per level that changed."""
    pa = ((a.get("model") or {}).get("parameters")) or {}
    pb = ((b.get("model") or {}).get("parameters")) or {}
    for comparison in sorted(set(pa) | set(pb)):
        la, lb = pa.get(comparison) or {}, pb.get(comparison) or {}
        for level in sorted(set(la) | set(lb)):
            before, after = la.get(level) or {}, lb.get(level) or {}
            if before == after:
                continue
            m0, u0, m1, u1 = before.get("m"), before.get("u"), after.get("m"), after.get("u")
            yield (
                "model",
                f"{comparison}.{level}: m {_show(m0)} -> {_show(m1)}, u {_show(u0)} -> "
                f"{_show(u1)}, weight {_weight(m0, u0)} -> {_weight(m1, u1)}",
            )


def diff(a: Policy, b: Policy) -> list[Change]:
    """Every difference from `a` to `b`, grouped by top-level section."""
    da = a.document.model_dump(mode="json")
    db = b.document.model_dump(mode="json")
    fa: dict[str, Any] = {}
    fb: dict[str, Any] = {}
    ea: dict[str, Any] = {}
    eb: dict[str, Any] = {}
    _flatten(da, "", fa, ea)
    _flatten(db, "", fb, eb)
    lines: list[tuple[str, str]] = []
    gone = [e for e in ea if e not in eb]
    new = [e for e in eb if e not in ea]
    lines += [(e.split(".")[0].split("[")[0], f"- {e}") for e in gone]
    lines += [(e.split(".")[0].split("[")[0], f"+ {e}: {_show(_without_name(eb[e]))}") for e in new]
    whole = tuple(f"{e}." for e in (*gone, *new))
    for path in sorted(set(fa) | set(fb)):
        if path.startswith(whole) or path.startswith("model.parameters."):
            continue
        before, after = fa.get(path), fb.get(path)
        if before == after or _emptied(path, fa, fb) or _emptied(path, fb, fa):
            continue
        section = path.split(".")[0].split("[")[0]
        if path not in fa:
            lines.append((section, f"+ {path}: {_show(after)}"))
        elif path not in fb:
            lines.append((section, f"- {path}: {_show(before)}"))
        else:
            lines.append((section, f"~ {path}: {_show(before)} -> {_show(after)}"))
    lines += list(_parameter_changes(da, db))

    def rank(section: str) -> tuple[int, str]:
        return (_ORDER.index(section) if section in _ORDER else len(_ORDER), section)

    ordered = sorted(enumerate(lines), key=lambda item: (rank(item[1][0]), item[0]))
    return [Change(section, text) for _, (section, text) in ordered]


def _emptied(path: str, one: dict[str, Any], other: dict[str, Any]) -> bool:
    """An empty section on one side whose entries the other side lists (they say it all)."""
    return one.get(path) in ({}, []) and any(p.startswith((f"{path}.", f"{path}[")) for p in other)


def _without_name(item: Any) -> Any:
    return {k: v for k, v in item.items() if k != "name"} if isinstance(item, dict) else item


def render(a: Policy, b: Policy, changes: list[Change]) -> str:
    lines = [f"policy {a.version} -> {b.version}"]
    if not changes:
        lines.append("  the same content" if a.version == b.version else "  no difference")
        return "\n".join(lines)
    section = None
    for change in changes:
        if change.section != section:
            section = change.section
            lines.append(f"[{section}]")
        lines.append(f"  {change.text}")
    return "\n".join(lines)
