"""A stored decision's evidence, rendered as the document `GET /v1/matches/{id}` shows (pure).

A decision stores its evidence compact (`identity.matching.evidence.compact_candidates`): the
rule labels, the levels met and the record's keys once, per candidate its gammas, weights and
record values (layout 2; layout 1, written by 97b4b06 only, stored each record whole and is
still rendered). Here that form becomes the full document byte for byte, key order included:
per candidate its rule verdicts, its score with one entry per comparison, its record. On
PostgreSQL, whose JSONB keeps every object's keys sorted, the rendered candidates' keys are put
in that order, as the whole document's were when it was stored. A document without a `layout`
key (every row written before layout 1, and every row the retention purge redacted) is already
full: it is returned as is.

Self-contained: rendering reads no policy (old decisions outlive their policy's table rows). The
candidate's side of each comparison ("right") is projected from the candidate's stored record
by `_RIGHT_V1`, pinned to what `identity.matching.comparisons.COMPARISONS[...].evidence` showed
when layout 1 was defined (layout 2 shares it). If a comparison's evidence ever changes, layouts
1 and 2 must keep rendering the old way: the builder then writes a new layout with its own
projection table, and this module renders all of them (tests/matching/test_resolution_columns.py
holds `_RIGHT_V1` equal to what the comparisons show today).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

LAYOUT = 2  # written by `compact_candidates`
_LAYOUTS = frozenset({1, 2})  # rendered
LAYOUT_KEY = "layout"
# The stored keys consumed by rendering (the rest of the header is shown as stored, in order).
_COMPACT_KEYS = frozenset({LAYOUT_KEY, "rules", "scoring", "record_keys"})

Record = Mapping[str, Any]


def _ssn(record: Record) -> str | None:
    ssn = record["ssn"]
    return None if not ssn else "*****" + ssn[-4:]


# Layout 1's candidate side of each comparison, from the stored record (`record_as_dict`).
_RIGHT_V1: dict[str, Callable[[Record], Any]] = {
    "given_name": lambda r: r["given"],
    "family_name": lambda r: {"family": r["family"], "earlier_families": r["earlier_families"]},
    "birth_date": lambda r: r["birth_date"],
    "sex": lambda r: r["sex"],
    "household": lambda r: {
        "address_line": r["address_line"],
        "zip5": r["zip5"],
        "phones": r["phones"],
        "subscriber_ids": r["subscriber_ids"],
    },
    "email": lambda r: r["email"],
    "ssn": _ssn,
    "member_id": lambda r: r["member_id"],
}


def render_evidence(stored: dict[str, Any]) -> dict[str, Any]:
    """The full evidence document of a stored one (returned as is when it is full already)."""
    layout = stored.get(LAYOUT_KEY)
    if layout is None:
        return stored
    if layout not in _LAYOUTS:
        raise ValueError(f"unknown evidence layout {layout!r}")
    # Written with `layout` first, read back in another order: PostgreSQL's JSONB keeps an
    # object's keys sorted (shorter first, then bytewise), as it kept the whole documents'.
    jsonb = next(iter(stored)) != LAYOUT_KEY
    candidates = _candidates(stored, _jsonb_sorted if jsonb else _as_written)
    return {
        key: candidates if key == "candidates" else value
        for key, value in stored.items()
        if key not in _COMPACT_KEYS
    }


def _jsonb_key(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


def _jsonb_sorted(value: dict[str, Any]) -> dict[str, Any]:
    """An object's keys (not its values') in JSONB's order: what PostgreSQL returns for it."""
    return {k: value[k] for k in sorted(value, key=_jsonb_key)}


def _as_written(value: dict[str, Any]) -> dict[str, Any]:
    return value


Order = Callable[[dict[str, Any]], dict[str, Any]]


def candidate_facts(stored: dict[str, Any]) -> list[dict[str, Any]]:
    """Each candidate's member id, status, rule verdicts and probability, in the shape of the
    full document's candidates (`{"member_id", "status", "rules", "score": {"probability"}}`),
    without rendering score fields or records: what grading a decision reads on a hot path."""
    if stored.get(LAYOUT_KEY) is None:
        return list(stored.get("candidates", []))
    if stored[LAYOUT_KEY] not in _LAYOUTS:
        raise ValueError(f"unknown evidence layout {stored[LAYOUT_KEY]!r}")
    rules = _rule_rows(stored["rules"], _as_written)
    return [
        {
            "member_id": c["member_id"],
            "status": c["status"],
            "rules": rules(c["fired"]),
            "score": None if c["score"] is None else {"probability": c["score"][1]},
        }
        for c in stored["candidates"]
    ]


def _rule_rows(
    labels: Sequence[Sequence[str]], order: Order
) -> Callable[[Sequence[int]], list[dict[str, Any]]]:
    """Fired rule indices -> the verdict list, made once per distinct row."""
    made: dict[tuple[int, ...], list[dict[str, Any]]] = {}

    def rows(fired: Sequence[int]) -> list[dict[str, Any]]:
        key = tuple(fired)
        found = made.get(key)
        if found is None:
            found = made[key] = [
                order({"rule": name, "kind": kind, "fired": j in key})
                for j, (name, kind) in enumerate(labels)
            ]
        return found

    return rows


def _candidates(stored: dict[str, Any], order: Order) -> list[dict[str, Any]]:
    """The rendered candidates, each object's keys in `order` (the values read from the stored
    form are in it already: JSONB sorted them, or they are as written)."""
    rules = _rule_rows(stored["rules"], order)
    record_keys = stored["record_keys"] if stored[LAYOUT_KEY] >= 2 else None
    scoring = stored.get("scoring")
    prior = scoring["prior_weight"] if scoring else None
    # Per comparison: gamma -> (its entry with the query's side filled in, log2 Bayes factor),
    # and the projection of the candidate's side. A candidate's entry is a copy of the template.
    models = []
    for name, left, levels in scoring["comparisons"] if scoring else ():
        templates = {
            gamma: (
                order(
                    {
                        "comparison": name,
                        "gamma": gamma,
                        "label": label,
                        "left": left,
                        "right": None,
                        "m": m,
                        "u": u,
                        "bayes_factor": bayes_factor,
                        "tf_adjustment": 0.0,
                        "weight": 0.0,
                    }
                ),
                log2_bf,
            )
            for gamma, label, m, u, bayes_factor, log2_bf in levels
        }
        models.append((templates, _RIGHT_V1[name]))
    out = []
    for c in stored["candidates"]:
        record = c["record"]
        if record_keys is not None:
            record = order(dict(zip(record_keys, record, strict=True)))
        score = c["score"]
        rendered_score = None
        if score is not None:
            weight, probability, gammas = score[0], score[1], score[2]
            tf = score[3] if len(score) > 3 else None
            fields = []
            for j, ((templates, right), gamma) in enumerate(zip(models, gammas, strict=True)):
                template, log2_bf = templates[gamma]
                adjustment = tf[j] if tf is not None else 0.0
                entry = template.copy()
                shown = right(record)
                entry["right"] = order(shown) if isinstance(shown, dict) else shown
                entry["tf_adjustment"] = adjustment
                entry["weight"] = log2_bf + adjustment
                fields.append(entry)
            rendered_score = order(
                {
                    "prior_weight": prior,
                    "match_weight": weight,
                    "probability": probability,
                    "fields": fields,
                }
            )
        document: dict[str, Any] = {
            "member_id": c["member_id"],
            "status": c["status"],
            "blocking_keys": c["blocking_keys"],
            "rules": rules(c["fired"]),
            "score": rendered_score,
        }
        if "guards" in c:
            document["guards"] = c["guards"]
        if "steward_decision" in c:
            document["steward_decision"] = c["steward_decision"]
        document["record"] = record
        out.append(order(document))
    return out
