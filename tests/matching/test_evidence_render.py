"""The stored evidence's renderer at its edges: a full document (every row written before
the compact layouts, and every row the retention purge redacted) is shown as stored; both
compact layouts render the same document; an unknown layout is refused, not guessed at;
`MatchDecision.evidence` renders the stored column once and again only when the column is
replaced, and cannot be written. The compact form rendering the verdicts' documents byte for
byte is in test_resolution_columns.py (it needs resolutions)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from identity.matching.evidence_render import candidate_facts, render_evidence
from identity.models import MatchDecision
from identity.retention.redact import redact_evidence

FULL: dict[str, Any] = {
    "policy_version": "default+abc",
    "decision": {"outcome": "match", "probability": 0.99},
    "query": {"given": "ANA"},
    "candidates": [
        {
            "member_id": "M1",
            "status": "open",
            "blocking_keys": ["dob"],
            "rules": [{"rule": "r", "kind": "positive", "fired": False}],
            "score": {"prior_weight": -10.0, "match_weight": 5.5, "probability": 0.98},
            "record": {"given": "ANA"},
        }
    ],
    "coverage_status": {"members": {"M1": "current"}},
}

COMPACT: dict[str, Any] = {
    "layout": 2,
    "policy_version": "default+abc",
    "query": {"given": "ANA"},
    "rules": [["r", "positive"], ["n", "negative"]],
    "record_keys": ["sex"],
    "scoring": {
        "prior_weight": -10.0,
        "comparisons": [["sex", "F", [[0, "exact", 0.9, 0.5, 1.8, 0.8479969065549501]]]],
    },
    "candidates": [
        {
            "member_id": "M1",
            "status": "open",
            "blocking_keys": ["dob"],
            "fired": [1],
            "score": [-9.15, 0.0018, [0]],
            "record": ["M"],
        },
        {
            "member_id": "M2",
            "status": "excluded",
            "blocking_keys": [],
            "fired": [],
            "score": [-9.0, 0.002, [0], [0.25]],
            "record": ["F"],
        },
    ],
    "coverage_status": {"members": {}},
}
# Layout 1 (written by 97b4b06 only) stored each record whole, without `record_keys`.
LAYOUT_1: dict[str, Any] = {
    **{k: v for k, v in COMPACT.items() if k != "record_keys"},
    "layout": 1,
    "candidates": [
        {**c, "record": dict(zip(COMPACT["record_keys"], c["record"], strict=True))}
        for c in COMPACT["candidates"]
    ],
}


@pytest.mark.parametrize("stored", [FULL, redact_evidence(FULL), {}])
def test_a_full_document_is_shown_as_stored(stored: dict[str, Any]) -> None:
    before = orjson.dumps(stored)
    assert orjson.dumps(render_evidence(stored)) == before
    assert candidate_facts(stored) == stored.get("candidates", [])
    assert orjson.dumps(stored) == before  # not changed in place


@pytest.mark.parametrize("stored", [COMPACT, LAYOUT_1], ids=["layout 2", "layout 1"])
def test_a_compact_document_renders_each_candidate_in_the_stored_order(
    stored: dict[str, Any],
) -> None:
    rendered = render_evidence(stored)
    assert list(rendered) == ["policy_version", "query", "candidates", "coverage_status"]
    first, second = rendered["candidates"]
    assert list(first) == ["member_id", "status", "blocking_keys", "rules", "score", "record"]
    assert first["rules"] == [
        {"rule": "r", "kind": "positive", "fired": False},
        {"rule": "n", "kind": "negative", "fired": True},
    ]
    [field] = first["score"]["fields"]
    assert field == {
        "comparison": "sex",
        "gamma": 0,
        "label": "exact",
        "left": "F",
        "right": "M",
        "m": 0.9,
        "u": 0.5,
        "bayes_factor": 1.8,
        "tf_adjustment": 0.0,
        "weight": 0.8479969065549501,
    }
    [adjusted] = second["score"]["fields"]
    assert (adjusted["right"], adjusted["tf_adjustment"]) == ("F", 0.25)
    assert second["record"] == {"sex": "F"}
    assert adjusted["weight"] == 0.8479969065549501 + 0.25
    assert second["score"]["prior_weight"] == -10.0
    assert candidate_facts(stored)[1] == {
        "member_id": "M2",
        "status": "excluded",
        "rules": [
            {"rule": "r", "kind": "positive", "fired": False},
            {"rule": "n", "kind": "negative", "fired": False},
        ],
        "score": {"probability": 0.002},
    }


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="layout 3"):
        render_evidence({**COMPACT, "layout": 3})
    with pytest.raises(ValueError, match="layout 3"):
        candidate_facts({**COMPACT, "layout": 3})


def test_the_decisions_evidence_is_rendered_once_per_stored_column() -> None:
    decision = MatchDecision(stored_evidence=COMPACT)
    rendered = decision.evidence
    assert rendered == render_evidence(COMPACT)
    assert decision.evidence is rendered  # rendered once
    decision.stored_evidence = FULL
    assert decision.evidence is FULL  # the column replaced: rendered again
    with pytest.raises(AttributeError):
        decision.evidence = {}  # type: ignore[misc]


def test_a_compact_document_read_from_jsonb_renders_its_candidates_in_jsonb_order() -> None:
    """PostgreSQL's JSONB returns every object's keys sorted (shorter first, then bytewise), the
    compact form's as the whole document's: the candidates are rendered in that order too."""
    jsonb = {k: COMPACT[k] for k in sorted(COMPACT, key=lambda k: (len(k), k))}
    first = render_evidence(jsonb)["candidates"][0]
    assert list(first) == ["rules", "score", "record", "status", "member_id", "blocking_keys"]
    assert list(first["rules"][0]) == ["kind", "rule", "fired"]
    assert list(first["score"]["fields"][0]) == [
        "m",
        "u",
        "left",
        "gamma",
        "label",
        "right",
        "weight",
        "comparison",
        "bayes_factor",
        "tf_adjustment",
    ]
    assert orjson.dumps(render_evidence(jsonb), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        render_evidence(COMPACT), option=orjson.OPT_SORT_KEYS
    )
