"""The `steward-decision` stage through the real matcher and the default policy: remembered
decisions arrive as data on the candidates and change the answer as the policy says."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from identity.matching.decision import Outcome, Reason, Stage
from identity.matching.engine import Candidate, Matcher
from identity.matching.policy import Policy, PolicyError, find_policy, parse_policy
from identity.matching.steward import StewardMark, SurvivorMark, survivor_of
from tests.conftest import RULES_DIR
from tests.factories import person

DEFAULT = find_policy(RULES_DIR, "default")
MATCHER = Matcher(DEFAULT)


def _with(policy: Policy, section: dict[str, Any] | None) -> Policy:
    document: dict[str, Any] = yaml.safe_load(policy.source_text)
    if section is None:
        document.pop("steward_decisions", None)
    else:
        document["steward_decisions"] = section
    return parse_policy(yaml.safe_dump(document, sort_keys=False))


QUERY = person("William", "Chen", "1958-11-02", subscriber_id="S200")
# The same person enrolled twice: both are certain by the subscriber-id rule.
M3 = person("William", "Chen", "1958-11-02", subscriber_id="S200", member_id="M3")
M4 = person("William", "Chen", "1958-11-02", subscriber_id="S200", member_id="M4")
# Someone the weights find close but no rule settles: the review band.
NEAR = person("Willem", "Chen", "1958-11-02", street="9 Other Road", zip_code="02139")


def test_without_decisions_two_records_of_one_person_are_multiple_certain() -> None:
    r = MATCHER.resolve(QUERY, [Candidate(1, "M3", M3), Candidate(2, "M4", M4)])
    assert (r.decision.outcome, r.decision.reason) == (Outcome.REVIEW, Reason.MULTIPLE_CERTAIN)


def test_same_person_pair_is_answered_with_the_surviving_record() -> None:
    pair = SurvivorMark("M3", "res-1")
    r = MATCHER.resolve(QUERY, [Candidate(1, "M3", M3), Candidate(2, "M4", M4, survivor=pair)])
    assert (r.decision.outcome, r.decision.stage, r.decision.reason) == (
        Outcome.MATCH,
        Stage.STEWARD,
        Reason.SAME_PERSON,
    )
    assert r.member is not None
    assert r.member.member_id == "M3"
    assert r.same_person == {"member_id": "M3", "others": ["M4"], "resolution_ids": ["res-1"]}


def test_keep_apart_excludes_the_candidate_and_names_the_resolution() -> None:
    mark = StewardMark("keep_apart", "res-2")
    r = MATCHER.resolve(QUERY, [Candidate(1, "M3", M3, steward=mark), Candidate(2, "M4", M4)])
    # M3 is set aside: M4 alone is certain.
    assert (r.decision.outcome, r.decision.reason) == (Outcome.MATCH, Reason.POSITIVE_RULE)
    assert r.member is not None
    assert r.member.member_id == "M4"
    evidence = r.verdicts[0].evidence()
    assert evidence["status"] == "excluded"
    assert evidence["steward_decision"] == {
        "stage": "steward-decision",
        "kind": "keep_apart",
        "resolution_id": "res-2",
    }


def test_link_makes_a_review_band_candidate_certain() -> None:
    alone = MATCHER.resolve(QUERY, [Candidate(1, "N1", NEAR)])
    assert alone.decision.outcome is not Outcome.MATCH
    linked = MATCHER.resolve(
        QUERY, [Candidate(1, "N1", NEAR, steward=StewardMark("link", "res-3"))]
    )
    assert (linked.decision.outcome, linked.decision.stage, linked.decision.reason) == (
        Outcome.MATCH,
        Stage.STEWARD,
        Reason.STEWARD_DECISION,
    )
    assert linked.verdicts[0].evidence()["steward_decision"]["resolution_id"] == "res-3"
    # A person decided: no guard caps their link.
    assert linked.verdicts[0].guards == ()


def test_link_outranks_a_negative_rule() -> None:
    twin = person("Wendy", "Chen", "1958-11-02", sex="female")
    plain = MATCHER.resolve(QUERY, [Candidate(1, "T", twin)])
    assert plain.verdicts[0].status.value == "excluded"
    linked = MATCHER.resolve(QUERY, [Candidate(1, "T", twin, steward=StewardMark("link", "r"))])
    assert linked.decision.outcome is Outcome.MATCH


@pytest.mark.parametrize(
    ("section", "mark", "outcome"),
    [
        (None, StewardMark("link", "r"), "review-or-no-match"),
        ({"link": "ignore"}, StewardMark("link", "r"), "review-or-no-match"),
        ({"link": "certain"}, StewardMark("link", "r"), "match"),
    ],
    ids=["no stage in the policy", "link ignored", "link certain"],
)
def test_the_policy_decides_whether_the_stage_runs(
    section: dict[str, Any] | None, mark: StewardMark, outcome: str
) -> None:
    matcher = Matcher(_with(DEFAULT, section))
    r = matcher.resolve(QUERY, [Candidate(1, "N1", NEAR, steward=mark)])
    got = "match" if r.decision.outcome is Outcome.MATCH else "review-or-no-match"
    assert got == outcome


def test_an_ignored_same_person_stage_leaves_multiple_certain() -> None:
    matcher = Matcher(_with(DEFAULT, {"same_person": "ignore"}))
    pair = SurvivorMark("M3", "res-1")
    r = matcher.resolve(QUERY, [Candidate(1, "M3", M3), Candidate(2, "M4", M4, survivor=pair)])
    assert r.decision.reason is Reason.MULTIPLE_CERTAIN


def test_a_kept_apart_survivor_is_not_the_answer() -> None:
    pair = SurvivorMark("M3", "res-1")
    r = MATCHER.resolve(
        QUERY,
        [
            Candidate(1, "M3", M3, steward=StewardMark("keep_apart", "r")),
            Candidate(2, "M4", M4, survivor=pair),
        ],
    )
    # M3 is excluded, so M4 alone is certain (no pair answer needed).
    assert r.member is not None
    assert r.member.member_id == "M4"


def test_the_policy_refuses_an_unknown_steward_value() -> None:
    with pytest.raises(PolicyError, match="steward_decisions.link"):
        _with(DEFAULT, {"link": "maybe"})


@pytest.mark.parametrize(
    ("chosen", "pairs", "expected"),
    [
        (["A", "B"], {"B": "A"}, ("A", ["B"])),
        (["A", "B", "C"], {"B": "A", "C": "B"}, ("A", ["B", "C"])),  # a chain
        (["A", "B"], {}, None),  # two people
        (["A", "B"], {"A": "B", "B": "A"}, None),  # a cycle
        (["B", "C"], {"B": "A", "C": "A"}, None),  # the survivor is not a candidate
    ],
    ids=["pair", "chain", "no pair", "cycle", "survivor absent"],
)
def test_survivor_of(
    chosen: list[str], pairs: dict[str, str], expected: tuple[str, list[str]] | None
) -> None:
    marks = {other: SurvivorMark(s, f"r-{other}") for other, s in pairs.items()}
    found = survivor_of(chosen, marks, {"A", "B", "C"} - ({"A"} if "A" not in chosen else set()))
    assert (found[:2] if found else None) == expected


# The same person enrolled twice, asked for without a card: no rule is certain and both records
# score alike, so the weights cannot choose (ambiguous) until a steward pairs them.
NO_HOME = {"street": None, "zip_code": None, "phone": "6175550123", "ssn": "219094417"}
BY_PHONE = person("William", "Chen", "1958-11-02", **NO_HOME)
P5 = person("William", "Chen", "1958-11-02", member_id="M5", **NO_HOME)
P6 = person("William", "Chen", "1958-11-02", member_id="M6", **NO_HOME)
# The same demographics with other names: the floor still holds for the survivor.
NO_NAME = person("Zed", "Quill", "1958-11-02", **NO_HOME)


def test_an_ambiguous_pair_of_one_persons_records_is_answered_with_the_survivor() -> None:
    alone = MATCHER.resolve(BY_PHONE, [Candidate(1, "M5", P5), Candidate(2, "M6", P6)])
    assert (alone.decision.outcome, alone.decision.reason) == (Outcome.REVIEW, Reason.AMBIGUOUS)
    pair = SurvivorMark("M5", "res-9")
    paired = [Candidate(1, "M5", P5), Candidate(2, "M6", P6, survivor=pair)]
    r = MATCHER.resolve(BY_PHONE, paired)
    assert (r.decision.outcome, r.decision.reason) == (Outcome.MATCH, Reason.SAME_PERSON)
    assert r.member is not None
    assert r.member.member_id == "M5"
    assert r.decision.probability == alone.decision.probability  # the weights' own, not 1.0
    # Pairing records says nothing of who is asking: names that do not support it stay review.
    capped = MATCHER.resolve(NO_NAME, paired)
    assert (capped.decision.outcome, capped.decision.reason) == (
        Outcome.REVIEW,
        Reason.CAPPED_BY_GUARD,
    )
