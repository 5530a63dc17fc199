"""The policy's conditions and settings in words, for the published policy (pure).

A rule's or guard's condition is data (field -> predicate, comparison -> levels); people should
read it as a sentence, not as JSON. Every sentence is built from the policy's own values: only
the connecting words are written here, one phrase per setting the policy model has (a test walks
the model, so a new setting without its phrase fails).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from identity.matching.policy import (
    CoverageStatusSpec,
    GivenNameEquivalencesSpec,
    GuardSpec,
    PredicatesSpec,
    StewardDecisionsSpec,
)


def _words(name: str) -> str:
    """`not_keying_error` -> 'not keying error'; `jaro_winkler_0.92` -> 'jaro winkler 0.92'."""
    return name.replace("_", " ")


def _either(items: Sequence[str], last: str = "or") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def _predicate(spec: Any) -> str:
    if isinstance(spec, list):
        return _either([_predicate(s) for s in spec], "and")
    if isinstance(spec, dict):
        return _either([f"{_words(str(k))} {v}" for k, v in spec.items()], "and")
    return _words(str(spec))


def predicates_in_words(when: Mapping[str, Any]) -> str:
    """A rule's `when:` (every predicate must hold): 'given name agree; birth date exact; ...'."""
    return "; ".join(f"{_words(field)} {_predicate(spec)}" for field, spec in when.items())


def _level(label: str) -> str:
    if label == "null":
        return "missing on either side"
    if label == "else":
        return "else (no other level)"
    return _words(label)


def _conjunction(condition: Mapping[str, Sequence[str]]) -> str:
    return "; and ".join(
        f"{_words(comparison)} is {_either([_level(lv) for lv in levels])}"
        for comparison, levels in condition.items()
    )


def guard_in_words(guard: GuardSpec) -> str:
    """When the guard holds or fails, and what exchanging the names does."""
    if guard.require_any is not None:
        text = "holds when any of these does: " + " Or: ".join(
            f"({n}) {_conjunction(c)}." for n, c in enumerate(guard.require_any, start=1)
        ).removesuffix(".")
    elif guard.when is not None:
        text = "fails when " + _conjunction(guard.when)
    else:
        text = "fails when every one of these holds: " + predicates_in_words(
            guard.when_predicates or {}
        )
    if guard.crosswise:
        text += " (it also holds if it holds with the request's given and family names exchanged)"
    return text


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "none"


# One phrase per predicate setting, keyed by (group, setting) as the policy model names them.
PREDICATE_PHRASES: dict[tuple[str, str], Callable[[Any], str]] = {
    ("given_name", "agree_jaro_winkler"): lambda v: (
        f"Given names agree when their Jaro-Winkler similarity is at least {v}."
    ),
    ("given_name", "typo_edits"): lambda v: f"A typo in a given name is at most {v} edit(s).",
    ("given_name", "first_letter_kept"): lambda v: (
        f"A typo keeps the given name's first letter: {_yes(v)}."
    ),
    ("family_name", "agree_jaro_winkler"): lambda v: (
        f"Family names agree when their Jaro-Winkler similarity is at least {v}."
    ),
    ("family_name", "differ_jaro_winkler"): lambda v: (
        f"Family names clearly differ when it is below {v}."
    ),
    ("birth_date", "days_per_year"): lambda v: f"Years apart are counted as {v} days each.",
    ("birth_date", "keying_errors"): lambda v: (
        f"Birth-date keying errors a rule may excuse: {_listed([_words(k) for k in v])}."
    ),
    ("ssn", "keying_edits"): lambda v: (
        f"SSNs at most {v} edit(s) apart are one keying error, not another SSN."
    ),
    ("sex", "differ_codes"): lambda v: f"Recorded sexes that count as different: {_listed(v)}.",
}


def predicates_settings(spec: PredicatesSpec) -> list[dict[str, Any]]:
    """Each predicate setting with its value and its sentence, in the model's order."""
    out: list[dict[str, Any]] = []
    for group in type(spec).model_fields:
        values = getattr(spec, group)
        for setting in type(values).model_fields:
            value = getattr(values, setting)
            value = list(value) if isinstance(value, tuple) else value
            out.append(
                {
                    "field": group,
                    "setting": setting,
                    "value": value,
                    "meaning": PREDICATE_PHRASES[(group, setting)](value),
                }
            )
    return out


def equivalences_in_words(spec: GivenNameEquivalencesSpec | None) -> list[str]:
    """What widens given-name equivalence beyond the nicknames package."""
    if spec is None:
        return ["Given names are equivalent as the nicknames package lists them, nothing more."]
    sources = [_words(s) for s in spec.diminutives]
    lines = [
        "Given names are equivalent as the nicknames package lists them"
        + (f", and as the {_either(sources, 'and')} diminutives do" if sources else "")
        + " (each for the record's own sex)."
    ]
    if spec.learn_from_steward_links:
        lines.append(
            "A given name stewards linked to a member's counts as equivalent once they linked "
            f"that pair for {spec.min_links} distinct member(s)."
        )
    else:
        lines.append("Stewards' links do not teach new equivalent given names.")
    return lines


def coverage_in_words(spec: CoverageStatusSpec) -> str:
    """Which former members a payer-to-payer request is answered with."""
    past = (
        "answered as a match all the same"
        if spec.past_lookback == "disclosed"
        else "answered as no match"
    )
    return (
        "Former members are still matched, and the evidence gives each candidate's coverage "
        f"status: current, ended within the last {spec.lookback_years} years, or ended before. "
        f"To a $member-match request, a member whose coverage ended before that is {past}."
    )


# One sentence per steward-decision setting and value the policy model allows.
STEWARD_PHRASES: dict[tuple[str, str], str] = {
    ("keep_apart", "exclude"): "a request a steward kept apart from a member is never that member",
    ("keep_apart", "ignore"): "a steward's keeping a request apart from a member is not used",
    ("link", "certain"): "a request a steward linked to a member is that member",
    ("link", "ignore"): "a steward's link of a request to a member is not used",
    ("same_person", "survivor"): (
        "records a steward marked as one person answer with the surviving record"
    ),
    ("same_person", "ignore"): "a steward's marking records as one person is not used",
}


def steward_decisions_in_words(spec: StewardDecisionsSpec | None) -> list[str]:
    """What stewards' remembered decisions do to later requests."""
    if spec is None:
        return ["Stewards' earlier decisions are not applied to later requests."]
    phrases = [
        STEWARD_PHRASES[(name, str(getattr(spec, name)))] for name in type(spec).model_fields
    ]
    return [f"{p[0].upper()}{p[1:]}." for p in phrases]
