"""How evidence reads on a page: reason codes and levels as sentences, masked values, the
highlighted difference between two values, and the geometry of the weight waterfall. Pure
functions of the stored evidence: nothing here touches the database."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

REASONS = {
    "multiple-certain": "More than one member is certain by the rules",
    "ambiguous": "Two or more members are about as likely as each other",
    "review-band": "The best member is likely, but not likely enough to link",
    "unscored-candidates": "Candidates remain that no rule settles and no model scores",
    "capped-by-guard": "A member was chosen, but the names do not support the match",
    "duplicate-enrolment": "One person appears to hold two member records",
}
KINDS = {
    "link": "Linked to a member",
    "keep_apart": "Kept apart from a member",
    "new_person": "A new person: no member",
    "same_person": "Member records marked the same person",
    "not_same_person": "Same-person marking undone",
    "escalate": "Escalated to a lead",
}
FIELDS = {
    "given_name": "Given name",
    "family_name": "Family name",
    "birth_date": "Birth date",
    "sex": "Sex",
    "household": "Home (address, phone, subscriber)",
    "address": "Address",
    "phone": "Phone",
    "email": "Email",
    "ssn": "SSN",
    "member_id": "Member id",
}
LEVELS = {
    "exact": "the same",
    "null": "missing on one side",
    "swapped": "given and family name swapped",
    "nickname": "a nickname of the other",
    "phonetic": "sounds alike",
    "initial": "an initial of the other",
    "earlier_family": "an earlier family name",
    "compound_part": "part of a compound name",
    "day_month_swap": "day and month swapped",
    "one_digit_off": "one digit off",
    "year_off_by_one": "the year one off",
    "transposed": "two digits transposed",
    "last_four": "same last four digits",
    "address": "same address",
    "phone": "same phone",
    "subscriber_id": "same subscriber",
    "street": "same street, other ZIP",
    "zip": "same ZIP only",
    "else": "different",
}


MASKED = frozenset({"ssn", "birth_date"})


def reason_sentence(code: str) -> str:
    return REASONS.get(code, code.replace("-", " ").capitalize())


def kind_sentence(kind: str) -> str:
    return KINDS.get(kind, kind.replace("_", " "))


def level_words(label: str) -> str:
    """The level reached, as a steward would say it ("jaro_winkler_0.92": a close spelling)."""
    if label.startswith("jaro_winkler"):
        threshold = label.rsplit("_", 1)[-1]
        return f"a close spelling (similarity ≥ {threshold})"
    return LEVELS.get(label, label.replace("_", " "))


def age_words(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def flat(value: Any) -> str:
    """A stored comparison value as one line of text."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return " · ".join(flat(v) for v in value.values() if v not in (None, [], ""))
    if isinstance(value, list):
        return ", ".join(flat(v) for v in value)
    return str(value)


def mask(field: str, text: str, reveal: bool) -> str:
    """SSN: last four; birth date: the year. Unless the person deliberately revealed them."""
    if reveal or not text or field not in MASKED:
        return text
    if field == "ssn":
        return "•••-••-" + text[-4:]
    return text[:4] + "-••-••"


def marked_difference(left: str, right: str) -> Markup:
    """`right` with the parts that differ from `left` wrapped in <mark>."""
    if not left or left == right:
        return Markup(escape(right))
    out: list[str] = []
    for op, _i1, _i2, j1, j2 in difflib.SequenceMatcher(None, left, right).get_opcodes():
        part = str(escape(right[j1:j2]))
        out.append(part if op == "equal" else f"<mark>{part}</mark>" if part else "")
    return Markup("".join(out))


@dataclass(frozen=True)
class Bar:
    label: str
    weight: float
    x: float
    width: float
    y: float
    kind: str  # prior | plus | minus | total


def waterfall(score: dict[str, Any], *, width: float = 560.0, row: float = 22.0) -> dict[str, Any]:
    """Bars for the prior, each comparison and the total, on one horizontal scale of weight."""
    prior = float(score.get("prior_weight") or 0.0)
    steps = [
        (FIELDS.get(f["comparison"], f["comparison"]), float(f.get("weight") or 0.0))
        for f in score.get("fields", [])
        if f.get("weight")
    ]
    total = float(score.get("match_weight", prior + sum(w for _, w in steps)))
    running = [0.0, prior]
    for _, w in steps:
        running.append(running[-1] + w)
    running.append(total)
    lo, hi = min(running), max(running)
    span = (hi - lo) or 1.0
    left_pad, plot = 170.0, width - 230.0

    def x(v: float) -> float:
        return left_pad + (v - lo) / span * plot

    bars = [Bar("Prior", prior, min(x(0), x(prior)), abs(x(prior) - x(0)), 0.0, "prior")]
    at = prior
    for i, (label, w) in enumerate(steps, start=1):
        a, b = x(at), x(at + w)
        bars.append(
            Bar(label, w, min(a, b), max(abs(b - a), 1.0), i * row, "plus" if w > 0 else "minus")
        )
        at += w
    bars.append(
        Bar(
            "Total",
            total,
            min(x(0), x(total)),
            abs(x(total) - x(0)),
            (len(steps) + 1) * row,
            "total",
        )
    )
    probability = score.get("probability")
    if probability is None:
        probability = 1.0 / (1.0 + math.pow(2.0, -total))
    return {
        "bars": bars,
        "height": (len(steps) + 2) * row + 8,
        "width": width,
        "zero": x(0),
        "probability": float(probability),
    }


def weight_bar(weight: float, scale: float = 20.0) -> dict[str, Any]:
    """A small bar for one comparison's weight: right of the middle for, left against."""
    share = max(-1.0, min(1.0, weight / scale))
    return {"positive": share >= 0, "width": round(abs(share) * 50, 1)}


_STATUS_RANK = {"certain": 0, "open": 1, "excluded": 2}


def _best_first(candidate: dict[str, Any]) -> tuple[int, float]:
    """Certain, then open by probability, then excluded: the first column is also the decision
    bar's preselected candidate, so it is the likeliest one."""
    probability = (candidate.get("score") or {}).get("probability") or 0.0
    return _STATUS_RANK.get(str(candidate.get("status")), 3), -float(probability)


def candidates_view(evidence: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
    """The query and each candidate, one row per compared field, values masked unless revealed."""
    candidates = sorted(
        (c for c in evidence.get("candidates", []) if isinstance(c, dict)), key=_best_first
    )
    order: list[str] = []
    for c in candidates:
        for f in (c.get("score") or {}).get("fields", []):
            if f["comparison"] not in order:
                order.append(f["comparison"])
    query_values: dict[str, str] = {}
    out = []
    for c in candidates:
        score = c.get("score") or {}
        by_field = {f["comparison"]: f for f in score.get("fields", [])}
        cells: dict[str, dict[str, Any] | None] = {}
        for name in order:
            f = by_field.get(name)
            if f is None:
                cells[name] = None
                continue
            left = mask(name, flat(f.get("left")), reveal)
            right = mask(name, flat(f.get("right")), reveal)
            query_values.setdefault(name, left)
            weight = float(f.get("weight") or 0.0)
            cells[name] = {
                "value": marked_difference(left, right),
                "level": level_words(str(f.get("label", ""))),
                "label": f.get("label", ""),
                "weight": weight,
                "bar": weight_bar(weight),
                "differs": bool(left and right and left != right),
            }
        fired_negative = [
            r["rule"] for r in c.get("rules", []) if r.get("kind") == "negative" and r.get("fired")
        ]
        fired_positive = [
            r["rule"] for r in c.get("rules", []) if r.get("kind") == "positive" and r.get("fired")
        ]
        out.append(
            {
                "member_id": c.get("member_id"),
                "status": c.get("status"),
                "probability": score.get("probability"),
                "cells": cells,
                "negative": fired_negative,
                "positive": fired_positive,
                "waterfall": waterfall(score) if score else None,
                "guards": [g["guard"] for g in c.get("guards", []) if not g.get("held", True)],
                "steward": c.get("steward_decision"),
            }
        )
    return {
        "query": query_values,
        "candidates": out,
        "fields": [(name, FIELDS.get(name, name.replace("_", " "))) for name in order],
    }
