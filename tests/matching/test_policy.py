"""Policy files: validated with every problem reported at once, versioned by content."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.matching.policy import PolicyError, find_policy, parse_policy
from tests.conftest import RULES_DIR

DEFAULT = (RULES_DIR / "default.yaml").read_text()


def test_every_policy_file_in_matching_rules_is_valid() -> None:
    files = sorted(RULES_DIR.glob("*.yaml"))
    assert files
    for path in files:
        assert find_policy(RULES_DIR, path.stem).document.rules.negative


def test_version_is_label_plus_content_hash() -> None:
    policy = parse_policy(DEFAULT)
    assert policy.version.startswith("1.5.0+")
    assert len(policy.version.split("+")[1]) == 12
    # Comments and layout are not content.
    assert parse_policy("# a comment\n" + DEFAULT).version == policy.version
    # Any change of meaning is a new version.
    changed = DEFAULT.replace("margin: 0.10", "margin: 0.20")
    assert parse_policy(changed).version != policy.version


def test_all_problems_are_reported_together() -> None:
    broken = (
        DEFAULT.replace("- email\n", "- shoe_size\n")
        .replace("{ssn: differ, birth_date: differ}", "{ssn: resembles}")
        .replace("review_probability: 0.60", "review_probability: 0.99")
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(broken, source="broken.yaml")
    text = " | ".join(caught.value.problems)
    assert "shoe_size" in text
    assert "resembles" in text
    assert "review_probability must not exceed match_probability" in text
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize(
    "text",
    ["", "- a list\n", "label: [unclosed\n", "label: 1.0.0\nname: x\n"],
    ids=["empty", "a list", "bad yaml", "missing sections"],
)
def test_unusable_documents_are_refused(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(text)


def test_unknown_policy_name(tmp_path: Path) -> None:
    with pytest.raises(PolicyError):
        find_policy(tmp_path, "nope")


def test_guards_are_checked_against_the_comparisons_with_every_problem_at_once() -> None:
    broken = (
        DEFAULT.replace("given_name: [exact, swapped, nickname,", "given_name: [exact, fuzzy,")
        .replace("sex: [else]}", "shoe_size: [else]}")
        .replace("- name: initial-of-the-other-sex", "- name: names-support-the-match")
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(broken, source="broken.yaml")
    text = " | ".join(caught.value.problems)
    assert "guards.names-support-the-match.given_name: unknown levels ['fuzzy']" in text
    assert "guards.names-support-the-match.shoe_size: no such comparison" in text
    assert "guard names must be unique" in text


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "    when: {given_name: [phonetic, initial], sex: [else]}\n",
            "",
            "either `require_any` or `when`",
        ),
        (
            "    crosswise: true\n    require_any:",
            "    crosswise: true\n    when: {sex: [else]}\n    require_any:",
            "either `require_any` or `when`",
        ),
        ("sex: [else]}", "sex: []}", "at least one level"),
        ("cap: review", "cap: match", "'review' or 'no_match'"),
    ],
    ids=["neither form", "both forms", "an empty level list", "a cap that is no cap"],
)
def test_malformed_guards_are_refused(old: str, new: str, problem: str) -> None:
    assert old in DEFAULT
    with pytest.raises(PolicyError) as caught:
        parse_policy(DEFAULT.replace(old, new, 1))
    [found] = caught.value.problems
    assert found.startswith("guards.")
    assert problem in found


def test_guards_need_the_comparison_levels_they_read() -> None:
    without_model = DEFAULT.split("\n# The probabilistic (Fellegi-Sunter) stage.")[0]
    with pytest.raises(PolicyError) as caught:
        parse_policy(without_model)
    assert caught.value.problems == [
        "(document): Value error, guards read comparison levels: declare comparisons and a model"
    ]
