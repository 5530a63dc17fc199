"""How evidence reads on the page: table-driven checks of the pure presentation functions."""

from __future__ import annotations

import pytest

from identity.review_ui import present


@pytest.mark.parametrize(
    ("field", "text", "reveal", "shown"),
    [
        ("ssn", "219-09-4417", False, "•••-••-4417"),
        ("ssn", "219-09-4417", True, "219-09-4417"),
        ("birth_date", "1961-03-14", False, "1961-••-••"),
        ("birth_date", "1961-03-14", True, "1961-03-14"),
        ("given_name", "QUENBY", False, "QUENBY"),
        ("ssn", "", False, ""),
    ],
)
def test_ssn_and_birth_date_are_masked_until_revealed(
    field: str, text: str, reveal: bool, shown: str
) -> None:
    assert present.mask(field, text, reveal) == shown


@pytest.mark.parametrize(
    ("left", "right", "html"),
    [
        ("QUEN", "QUENBY", "QUEN<mark>BY</mark>"),
        ("ROSALIND", "ROSAMUND", "ROSA<mark>MU</mark>ND"),
        ("SAME", "SAME", "SAME"),
        ("", "X<Y", "X&lt;Y"),  # escaped, whatever the stored value holds
        ("A", "<b>", "<mark>&lt;b&gt;</mark>"),
    ],
)
def test_the_part_that_differs_is_marked_and_escaped(left: str, right: str, html: str) -> None:
    assert str(present.marked_difference(left, right)) == html


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("exact", "the same"),
        ("nickname", "a nickname of the other"),
        ("jaro_winkler_0.92", "a close spelling (similarity ≥ 0.92)"),
        ("street", "same street, other ZIP"),
        ("something_new", "something new"),
    ],
)
def test_levels_read_as_words(label: str, words: str) -> None:
    assert present.level_words(label) == words


def test_reason_codes_read_as_sentences_with_a_fallback() -> None:
    assert present.reason_sentence("multiple-certain").startswith("More than one member")
    assert present.reason_sentence("brand-new-code") == "Brand new code"


def test_the_waterfall_adds_up_from_the_prior_to_the_total() -> None:
    score = {
        "prior_weight": -16.0,
        "match_weight": 4.0,
        "probability": 0.94,
        "fields": [
            {"comparison": "given_name", "weight": 12.0},
            {"comparison": "ssn", "weight": 0.0},  # no evidence: no bar
            {"comparison": "birth_date", "weight": 8.0},
        ],
    }
    w = present.waterfall(score)
    labels = [b.label for b in w["bars"]]
    assert labels == ["Prior", "Given name", "Birth date", "Total"]
    prior, given, born, total = w["bars"]
    assert (prior.kind, given.kind, total.kind) == ("prior", "plus", "total")
    # Each step starts where the one before ended: the given name's bar begins at the prior.
    assert given.x == pytest.approx(prior.x)
    assert born.x == pytest.approx(given.x + given.width)
    assert total.x == pytest.approx(w["zero"])
    assert w["probability"] == 0.94
    assert w["height"] == 4 * 22.0 + 8


def test_candidates_stand_best_first() -> None:
    """Certain, then open by probability, then excluded: the first column is the one the
    decision bar preselects, never a relative a negative rule excluded."""
    evidence = {
        "candidates": [
            {"member_id": "mother", "status": "excluded", "score": {"probability": 0.9}},
            {"member_id": "low", "status": "open", "score": {"probability": 0.4}},
            {"member_id": "high", "status": "open", "score": {"probability": 0.95}},
            {"member_id": "sure", "status": "certain", "score": {"probability": 0.2}},
        ]
    }
    shown = [c["member_id"] for c in present.candidates_view(evidence, reveal=False)["candidates"]]
    assert shown == ["sure", "high", "low", "mother"]
