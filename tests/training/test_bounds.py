"""Training safety: weight bounds keep a relative's exploitable weights where the policy puts them,
and a model whose weights alone send a relative sharing the household to review is refused.

The hostile incoming side is a synthetic request stream dominated by relatives of members who are
not enrolled themselves (household members, twins, Jr/Sr) sharing the household's facts: EM takes
many of them for the member, so it learns that a different birth date or given name means little.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from identity.matching.policy import (
    PolicyDocument,
    PolicyError,
    TermFrequencies,
    WeightBound,
    find_policy,
    load_policy_file,
    parse_policy,
)
from identity.matching.record import RawAddress, RawDemographics, RawName, StandardRecord
from identity.matching.scoring import FellegiSunter
from identity.matching.standardize import standardize
from identity.member.sources import SourceError, read_source
from identity.resolution.service import parse_match_request
from identity.synthetic import DatasetPaths, write_dataset
from identity.training.data import Incoming
from identity.training.estimates import LevelEstimate, apply_weight_bounds
from identity.training.relatives import profile_score, profile_scores
from identity.training.report import text_report
from identity.training.service import TrainingRun, train_sides
from identity.training.train import TrainOptions
from tests.conftest import RULES_DIR, TENANT

TODAY = date(2026, 11, 22)
FAST = TrainOptions(max_pairs=300_000, em_max_pairs=300_000)
RELATIVES = {"household", "twin", "jr_sr"}
BOUNDED = {
    ("given_name", "else"),
    ("birth_date", "else"),
    ("household", "address"),
    ("household", "phone"),
    ("household", "subscriber_id"),
}


def _default() -> PolicyDocument:
    return find_policy(RULES_DIR, "default").document


def _raw_default() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((RULES_DIR / "default.yaml").read_text())
    return raw


def _without(*keys: str) -> str:
    """The default policy as a policy written before these model keys existed."""
    raw = _raw_default()
    for key in keys:
        raw["model"].pop(key)
    return yaml.safe_dump(raw, sort_keys=False)


# --- the policy -------------------------------------------------------------------------------


def test_the_default_policy_declares_bounds_its_own_hand_set_weights_respect() -> None:
    model = _default().model
    assert model is not None
    assert {(c, lv) for c, levels in model.weight_bounds.items() for lv in levels} == BOUNDED
    for comparison, levels in model.weight_bounds.items():
        for level, bound in levels.items():
            p = model.parameters[comparison][level]
            assert bound.max_weight is not None
            assert math.log2(p.m / p.u) <= bound.max_weight, f"{comparison}.{level}"
    (score,) = profile_scores(_default())
    assert score.ok
    assert score.probability < 0.01


def test_bounds_and_profiles_validate_with_every_problem_at_once() -> None:
    raw = _raw_default()
    raw["model"]["weight_bounds"] = {
        "birth_date": {"else": {"max_weight": -5.5}, "exact": {}},
        "given_name": {"else": {"min_weight": -2.0, "max_weight": -6.0}},
        "household": {"address": {"max_weight": ".inf"}},
    }
    with pytest.raises(PolicyError) as bad_values:
        parse_policy(yaml.safe_dump(raw))
    problems = bad_values.value.problems
    assert len(problems) == 3, problems
    assert any("birth_date.exact" in p and "needs min_weight, max_weight" in p for p in problems)
    assert any("given_name.else" in p and "must not exceed" in p for p in problems)
    assert any("household.address.max_weight" in p for p in problems)

    raw = _raw_default()
    raw["model"]["weight_bounds"] = {
        "birthdate": {"else": {"max_weight": -5.5}},
        "household": {"home": {"max_weight": 11.0}},
    }
    profile = raw["model"]["relative_profiles"][0]
    raw["model"]["relative_profiles"] = [
        profile,
        {**profile, "levels": {"given_name": ["else", "differ"], "hair": ["red"]}},
        {**profile, "name": "empty", "levels": {"sex": []}},
    ]
    with pytest.raises(PolicyError) as bad_names:
        parse_policy(yaml.safe_dump(raw))
    problems = bad_names.value.problems[0].split("; ")
    expected = [
        "model.weight_bounds.birthdate: no such comparison",
        "model.weight_bounds.household: unknown levels ['home']",
        "model.relative_profiles: names repeat: ['relative-sharing-the-household']",
        "model.relative_profiles.relative-sharing-the-household.given_name: unknown levels "
        "['differ']",
        "model.relative_profiles.relative-sharing-the-household.hair: no such comparison",
        "model.relative_profiles.empty.sex: list at least one level",
    ]
    for start in expected:
        assert any(start in p for p in problems), (start, problems)


def test_a_policy_without_bounds_keeps_its_version_and_parses_as_before() -> None:
    text = _without("weight_bounds", "relative_profiles")
    old = parse_policy(text)
    assert old.document.model is not None
    assert old.document.model.weight_bounds == {}
    assert old.document.model.relative_profiles == ()
    assert profile_scores(old.document) == []
    # Absent keys are not defaults written into the hash: the version is the document's own.
    assert parse_policy(text).version == old.version != find_policy(RULES_DIR, "default").version


# --- clipping ---------------------------------------------------------------------------------


def _estimate(comparison: str, level: str, m: float, u: float) -> LevelEstimate:
    return LevelEstimate(comparison, level, level, m, u, True, True, m)


@pytest.mark.parametrize(
    ("m", "u", "clipped", "weight"),
    [
        (0.1076, 0.9989, "max_weight", -5.5),  # EM's -3.2 for a wholly different birth date
        (0.02, 0.99924, None, math.log2(0.02 / 0.99924)),  # the hand-set -5.64: inside
        (0.0221, 0.9989, "max_weight", -5.5),  # a hair over: clipped to the bound, not past it
        (1e-12, 0.9989, "min_weight", -30.0),  # a floor lifts m the same way
    ],
)
def test_weight_bounds_move_m_to_the_bound_and_not_a_bit_past_it(
    m: float, u: float, clipped: str | None, weight: float
) -> None:
    bound = {"birth_date": {"else": WeightBound(min_weight=-30.0, max_weight=-5.5)}}
    (out,) = apply_weight_bounds([_estimate("birth_date", "else", m, u)], bound)
    assert out.clipped == clipped
    assert out.u == u
    assert out.m_estimated == m
    assert -30.0 <= out.match_weight <= -5.5
    assert out.match_weight == pytest.approx(weight, abs=1e-12)
    # The number the service computes from the written m is inside the bound, to the bit.
    assert math.log2(out.m / out.u) <= -5.5


# --- the relatives check ----------------------------------------------------------------------


def _with(
    document: PolicyDocument,
    weights: dict[tuple[str, str], float],
    *,
    prior: float | None = None,
    rare_family: float | None = None,
    minimum_u: float = 0.0,
) -> PolicyDocument:
    """`document` with some levels' weights set (m moved, u kept), and a family-name frequency."""
    model = document.model
    assert model is not None
    parameters = {c: dict(levels) for c, levels in model.parameters.items()}
    for (c, level), w in weights.items():
        p = parameters[c][level]
        parameters[c][level] = p.model_copy(update={"m": p.u * 2.0**w})
    tf = dict(model.term_frequencies)
    if rare_family is not None:
        tf["family_name"] = TermFrequencies(
            values={"SMITH": 0.01, "QUILLFEATHER": rare_family}, minimum_u=minimum_u
        )
    new = model.model_copy(
        update={
            "parameters": parameters,
            "term_frequencies": tf,
            "prior": prior if prior is not None else model.prior,
        }
    )
    return document.model_copy(update={"model": new})


ISSUE = {  # what `identity train` learned on the unseen payer set
    ("birth_date", "else"): -4.7,
    ("household", "address"): 12.7,
    ("given_name", "else"): -3.8,
}
AT_BOUNDS = {
    ("birth_date", "else"): -5.5,
    ("household", "address"): 11.5,
    ("household", "phone"): 10.0,
    ("household", "subscriber_id"): 9.0,
    ("given_name", "else"): -6.0,
}


@pytest.mark.parametrize(
    ("weights", "prior", "rare_family", "minimum_u", "ok"),
    [
        ({}, None, None, 0.0, True),  # hand-set: -8.6
        ({}, None, 1e-4, 0.0, True),  # hand-set with a family name two members share: -3.0
        (ISSUE, None, None, 0.0, True),  # the issue's weights, an average family name: -4.0
        (ISSUE, None, 1e-4, 0.0, False),  # ... a rare one, shared by the household: +1.6
        (ISSUE, None, 1e-4, 0.005, True),  # ... unless minimum_u caps the adjustment
        ({("household", "subscriber_id"): 19.35}, 2.67e-5, 1e-4, 0.0, False),  # synthetic 20k EM
        (AT_BOUNDS, 2.67e-5, 1e-4, 0.0, True),  # every bounded weight at its bound: -1.3
        ({**AT_BOUNDS, ("sex", "exact"): 3.0}, 2.67e-5, 1e-4, 0.0, False),  # one more exploit
    ],
)
def test_the_relatives_check_scores_the_worst_case_of_the_profile(
    weights: dict[tuple[str, str], float],
    prior: float | None,
    rare_family: float | None,
    minimum_u: float,
    ok: bool,
) -> None:
    document = _with(_default(), weights, prior=prior, rare_family=rare_family, minimum_u=minimum_u)
    (score,) = profile_scores(document)
    assert score.ok is ok, score.describe()
    assert score.threshold == pytest.approx(math.log2(0.6 / 0.4))


def _person(given: str, born: str, *, sex: str = "female") -> StandardRecord:
    return standardize(
        RawDemographics(
            names=(RawName(given=(given,), family="Quillfeather"),),
            birth_date=born,
            gender=sex,
            addresses=(RawAddress(("12 Elm St",), "Springfield", "IL", "62704"),),
        ),
        today=TODAY,
    )


def test_the_worst_case_is_what_the_service_scores_for_such_a_relative() -> None:
    """The member's sister at home, with the household's rare family name: the service's own
    scorer gives her exactly the weight the check computed."""
    document = _with(_default(), ISSUE, rare_family=1e-4)
    model = document.model
    assert model is not None
    member, sister = _person("Abigail", "1961-04-02"), _person("Rosalind", "1967-09-30")
    (pair,) = FellegiSunter(document.comparisons, model).score(sister, [member])
    levels = {f.comparison: f.label for f in pair.fields if f.label != "null"}
    assert levels == {
        "family_name": "exact",
        "household": "address",
        "given_name": "else",
        "birth_date": "else",
        "sex": "exact",
    }
    (score,) = profile_scores(document)
    assert pair.match_weight == pytest.approx(score.weight, abs=1e-9)
    assert not score.ok


# --- training on a stream dominated by relatives ----------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], Incoming]:
    """3,000 members; incoming: every relative query of 3,000, and a few enrolled people."""
    out = tmp_path_factory.mktemp("hostile")
    paths: DatasetPaths = write_dataset(
        out, members=3_000, queries=3_000, seed=11, formats=("ndjson",)
    )
    master = [
        (item.member_id, standardize(item.raw, today=TODAY))
        for item in read_source(paths.members_ndjson)
        if not isinstance(item, SourceError)
    ]
    relatives, enrolled = [], []
    with paths.queries_ndjson.open("rb") as fh:
        for line in fh:
            item = orjson.loads(line)
            keyed = (
                item["query_id"],
                standardize(parse_match_request(item["request"], TODAY), today=TODAY),
            )
            if item["truth"].get("relationship") in RELATIVES:
                relatives.append(keyed)
            elif item["truth"].get("member_id"):
                enrolled.append(keyed)
    incoming = relatives + enrolled[: len(relatives) // 3]
    return master, Incoming("extract", incoming)


def _train(hostile: tuple[list[Any], Incoming], rules: Path, text: str) -> TrainingRun:
    rules.mkdir()
    (rules / "default.yaml").write_text(text)
    master, incoming = hostile
    source = find_policy(rules, "default")
    return train_sides(
        TENANT, source, incoming, iter(master), len(master), rules_dir=rules, options=FAST
    )


def _over_bound(run: TrainingRun) -> set[tuple[str, str]]:
    model = _default().model
    assert model is not None
    return {
        (lv.comparison, lv.level)
        for lv in run.estimates.levels
        if (bound := model.weight_bounds.get(lv.comparison, {}).get(lv.level)) is not None
        and bound.max_weight is not None
        and lv.weight_estimated > bound.max_weight
    }


def test_training_on_relatives_writes_a_policy_within_its_bounds(
    hostile: tuple[list[Any], Incoming], tmp_path: Path
) -> None:
    run = _train(hostile, tmp_path / "rules", (RULES_DIR / "default.yaml").read_text())
    pushed = _over_bound(run)
    # The construction works: EM on this stream pushes the bounded weights past their bounds.
    assert {("birth_date", "else"), ("given_name", "else")} <= pushed, run.estimates.levels
    assert run.problems == [], run.problems
    assert run.path is not None
    written = load_policy_file(run.path)
    model = written.document.model
    assert model is not None
    assert model.weight_bounds == _default().model.weight_bounds  # type: ignore[union-attr]
    assert model.relative_profiles == _default().model.relative_profiles  # type: ignore[union-attr]
    for comparison, levels in model.weight_bounds.items():
        for level, bound in levels.items():
            p = model.parameters[comparison][level]
            assert bound.max_weight is not None
            assert math.log2(p.m / p.u) <= bound.max_weight
    clipped = {
        (lv.comparison, lv.level) for lv in run.estimates.clipped if "weight" in (lv.clipped or "")
    }
    assert clipped == pushed
    # The file and the report say what was clipped, from what.
    notes = model.training["notes"]["m_clipped"]  # type: ignore[index]
    for comparison, level in pushed:
        assert any(n.startswith(f"{comparison}.{level} max_weight") for n in notes), notes
    report = text_report(run)
    assert "weight clipped to max_weight (EM: m" in report
    assert "ok             relative-sharing-the-household" in report
    (score,) = run.relatives
    assert score.ok
    assert profile_score(written.document, model.relative_profiles[0]) == score


def test_without_bounds_the_same_training_is_refused_by_the_relatives_check(
    hostile: tuple[list[Any], Incoming], tmp_path: Path
) -> None:
    run = _train(hostile, tmp_path / "rules", _without("weight_bounds"))
    assert run.written is None
    assert run.path is None
    assert [p for p in run.problems if p.startswith("relative profile")], run.problems
    assert "REACHES REVIEW" in text_report(run)
    assert [p.name for p in (tmp_path / "rules").iterdir()] == ["default.yaml"]


def test_a_policy_from_before_the_bounds_trains_as_before(
    hostile: tuple[list[Any], Incoming], tmp_path: Path
) -> None:
    run = _train(hostile, tmp_path / "rules", _without("weight_bounds", "relative_profiles"))
    assert run.problems == [], run.problems
    assert run.relatives == []
    assert not [lv for lv in run.estimates.clipped if "weight" in (lv.clipped or "")]
    assert run.written is not None
    model = run.written.document.model
    assert model is not None
    assert model.weight_bounds == {}
    assert model.relative_profiles == ()
    # EM's own numbers, unbounded: what the relatives taught it stays in the policy.
    for comparison, level in BOUNDED:
        lv = next(x for x in run.estimates.levels if (x.comparison, x.level) == (comparison, level))
        assert model.parameters[comparison][level].m == lv.m_estimated
