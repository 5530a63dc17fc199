"""Policies: a declarative file (YAML) loaded into a frozen, validated object.

A policy's version is its label plus a hash of its canonical content, so two different documents
can never share a version, and an edited file is a new version rather than a silent change to an
active one. Validation reports every error at once, with the path of each offending entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from identity.matching.blocking import BLOCKING_KEYS
from identity.matching.rules import (
    PREDICATES,
    KeyingError,
    PredicateSettings,
    RulePredicate,
    parse_predicates,
)


class PolicyError(ValueError):
    """A policy file that cannot be used; `problems` lists every issue found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BlockingSpec(_Frozen):
    keys: tuple[str, ...] = Field(min_length=1)
    # A key value shared by more members than this says little about identity; it is skipped.
    max_block_size: int = Field(default=200, ge=1, le=10_000)
    # Candidates kept per request, those agreeing on the most keys first.
    max_candidates: int = Field(default=50, ge=1, le=1_000)

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in keys if k not in BLOCKING_KEYS]
        if unknown:
            raise ValueError(f"unknown blocking key(s) {unknown}; known: {sorted(BLOCKING_KEYS)}")
        if len(set(keys)) != len(keys):
            raise ValueError("blocking keys are listed more than once")
        return keys


class RuleSpec(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")
    description: str = ""
    when: dict[str, Any] = Field(min_length=1)

    @field_validator("when")
    @classmethod
    def _known_predicates(cls, when: dict[str, Any]) -> dict[str, Any]:
        problems: list[str] = []
        for field_name, spec in when.items():
            try:
                parse_predicates(field_name, spec)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return when

    def predicates(self) -> tuple[RulePredicate, ...]:
        return tuple(p for f, s in self.when.items() for p in parse_predicates(f, s))


class RulesSpec(_Frozen):
    positive: tuple[RuleSpec, ...] = ()
    negative: tuple[RuleSpec, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> RulesSpec:
        names = [r.name for r in (*self.positive, *self.negative)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {dupes}")
        return self


class GivenNamePredicates(_Frozen):
    agree_jaro_winkler: float = Field(default=0.92, gt=0.0, le=1.0)
    typo_edits: int = Field(default=1, ge=0, le=3)
    first_letter_kept: bool = True


class FamilyNamePredicates(_Frozen):
    agree_jaro_winkler: float = Field(default=0.92, gt=0.0, le=1.0)
    differ_jaro_winkler: float = Field(default=0.80, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> FamilyNamePredicates:
        if self.differ_jaro_winkler > self.agree_jaro_winkler:
            raise ValueError("differ_jaro_winkler must not exceed agree_jaro_winkler")
        return self


class BirthDatePredicates(_Frozen):
    days_per_year: float = Field(default=365.25, ge=365.0, le=366.0)
    keying_errors: tuple[KeyingError, ...] = ()

    @field_validator("keying_errors")
    @classmethod
    def _once(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(kinds)) != len(kinds):
            raise ValueError("a keying error is listed more than once")
        return kinds


class SsnPredicates(_Frozen):
    keying_edits: int = Field(default=1, ge=0, le=3)


class SexPredicates(_Frozen):
    differ_codes: tuple[Literal["M", "F", "O"], ...] = ("M", "F")

    @field_validator("differ_codes")
    @classmethod
    def _once(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(codes)) != len(codes):
            raise ValueError("a sex code is listed more than once")
        return codes


class PredicatesSpec(_Frozen):
    """What the rules' predicates decide with (see rules.py: PredicateSettings). Every value
    defaults to what the predicates used before policies declared them, and no birth-date keying
    error is declared by default, so a policy without this section decides as it always did.
      given_name   agree_jaro_winkler (a near spelling agrees), typo_edits (OSA edits a typo may
                   make), first_letter_kept (a typo keeps the first letter)
      family_name  agree_jaro_winkler, differ_jaro_winkler (below it: clearly another name)
      birth_date   days_per_year (years apart), keying_errors (what `not_keying_error` excuses)
      ssn          keying_edits (OSA edits that are one keying error, not another SSN)
      sex          differ_codes (the recorded sexes that can differ)"""

    given_name: GivenNamePredicates = Field(default_factory=GivenNamePredicates)
    family_name: FamilyNamePredicates = Field(default_factory=FamilyNamePredicates)
    birth_date: BirthDatePredicates = Field(default_factory=BirthDatePredicates)
    ssn: SsnPredicates = Field(default_factory=SsnPredicates)
    sex: SexPredicates = Field(default_factory=SexPredicates)

    def settings(self) -> PredicateSettings:
        return PredicateSettings(
            given_agree_jaro_winkler=self.given_name.agree_jaro_winkler,
            given_typo_edits=self.given_name.typo_edits,
            given_first_letter_kept=self.given_name.first_letter_kept,
            family_agree_jaro_winkler=self.family_name.agree_jaro_winkler,
            family_differ_jaro_winkler=self.family_name.differ_jaro_winkler,
            days_per_year=self.birth_date.days_per_year,
            birth_date_keying_errors=frozenset(self.birth_date.keying_errors),
            ssn_keying_edits=self.ssn.keying_edits,
            sex_differ_codes=frozenset(self.sex.differ_codes),
        )


class DecisionSpec(_Frozen):
    """Thresholds on the match probability of the best candidate."""

    match_probability: float = Field(gt=0.0, lt=1.0)
    review_probability: float = Field(gt=0.0, lt=1.0)
    # The best candidate must beat the runner-up by this much to match alone.
    margin: float = Field(ge=0.0, lt=1.0)
    # What to do with candidates no rule settles while the policy has no probabilistic stage.
    unscored_outcome: Literal["review", "no_match"] = "review"

    @model_validator(mode="after")
    def _ordered(self) -> DecisionSpec:
        if self.review_probability > self.match_probability:
            raise ValueError("review_probability must not exceed match_probability")
        return self


# The level kinds each comparison may declare, strongest first in a policy. Their meaning (one
# definition, rendered both as Python for the service and as SQL for splink) is in comparisons.py.
LEVEL_KINDS: dict[str, frozenset[str]] = {
    "given_name": frozenset(
        {"exact", "swapped", "nickname", "jaro_winkler", "phonetic", "initial", "else"}
    ),
    "family_name": frozenset(
        {"exact", "swapped", "earlier_family", "compound_part", "jaro_winkler", "phonetic", "else"}
    ),
    "birth_date": frozenset(
        {"exact", "day_month_swap", "one_digit_off", "transposed", "year_off_by_one", "else"}
    ),
    "sex": frozenset({"exact", "else"}),
    "household": frozenset({"address", "phone", "subscriber_id", "street", "zip", "else"}),
    "email": frozenset({"exact", "else"}),
    "ssn": frozenset({"exact", "one_digit_off", "transposed", "last_four", "else"}),
    "member_id": frozenset({"exact", "else"}),
}
THRESHOLD_KINDS = frozenset({"jaro_winkler"})


Conjunction = dict[str, tuple[str, ...]]  # comparison -> level labels: every one must hold


class GuardSpec(_Frozen):
    """A guard: what must hold of the candidate the stages chose before it is a match.

    A condition maps comparisons to level labels (`jaro_winkler_0.92`; `null` when a value is
    missing on either side) and holds when every comparison it names is in one of its levels.
    Exactly one form:
      require_any  a list of conditions: the guard holds when at least one does; a level not
                   listed never counts (a level added to the policy later fails closed)
      when         one condition: the guard fails when it holds
      when_predicates  rule predicates (as a rule's `when:` says them, under the policy's
                   `predicates:` settings) on the request and the chosen candidate: the guard
                   fails when every one holds. For what the levels cannot say (years apart, a
                   suffix on one side only).
    When a guard fails, the decision is at most `cap`, whatever the rules and weights said.
    `crosswise`: the guard also holds if it holds with the query's given and family names
    exchanged (entered in each other's fields, one of them perhaps mistyped as well).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")
    description: str = ""
    cap: Literal["review", "no_match"] = "review"
    crosswise: bool = False
    require_any: tuple[Conjunction, ...] | None = None
    when: Conjunction | None = None
    when_predicates: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> GuardSpec:
        forms = (self.require_any, self.when, self.when_predicates)
        if sum(form is not None for form in forms) != 1:
            raise ValueError(
                "a guard says either `require_any` or `when` (or `when_predicates`), one of them"
            )
        if self.when_predicates is not None:
            if self.crosswise:
                raise ValueError("`crosswise` exchanges names in levels: not with predicates")
            if not self.when_predicates:
                raise ValueError("a guard needs a condition")
            problems: list[str] = []
            for field_name, spec in self.when_predicates.items():
                try:
                    parse_predicates(field_name, spec)
                except ValueError as exc:
                    problems.append(str(exc))
            if problems:
                raise ValueError("; ".join(problems))
            return self
        conditions = self.conditions
        if not conditions or any(
            not c or any(not levels for levels in c.values()) for c in conditions
        ):
            raise ValueError("a guard needs a condition, and at least one level per comparison")
        return self

    @property
    def conditions(self) -> tuple[Conjunction, ...]:
        """The level conditions (none for a `when_predicates` guard)."""
        if self.require_any is not None:
            return self.require_any
        return (self.when,) if self.when is not None else ()

    def predicates(self) -> tuple[RulePredicate, ...]:
        when = self.when_predicates or {}
        return tuple(p for f, s in when.items() for p in parse_predicates(f, s))


class LevelSpec(_Frozen):
    kind: str
    threshold: float | None = Field(default=None, gt=0.0, lt=1.0)

    @property
    def label(self) -> str:
        """Unique within its comparison: the kind, plus the threshold where there is one."""
        return self.kind if self.threshold is None else f"{self.kind}_{self.threshold:g}"


class ComparisonSpec(_Frozen):
    """One field (or, for `household`, one group of correlated fields) and its ordered levels.

    A missing value on either side is the implicit null level: Bayes factor 1, no evidence.
    """

    name: str
    levels: tuple[LevelSpec, ...] = Field(min_length=2)
    # Term-frequency adjustment of the exact level: a shared rare value counts for more.
    term_frequency: bool = False

    @model_validator(mode="after")
    def _valid_levels(self) -> ComparisonSpec:
        allowed = LEVEL_KINDS.get(self.name)
        if allowed is None:
            raise ValueError(f"unknown comparison {self.name!r}; known: {sorted(LEVEL_KINDS)}")
        problems = []
        for level in self.levels:
            if level.kind not in allowed:
                problems.append(f"{self.name}: unknown level {level.kind!r} ({sorted(allowed)})")
            if (level.kind in THRESHOLD_KINDS) != (level.threshold is not None):
                problems.append(f"{self.name}: level {level.kind!r} threshold misplaced")
        labels = [lv.label for lv in self.levels]
        if len(set(labels)) != len(labels):
            problems.append(f"{self.name}: levels repeat")
        if self.levels[-1].kind != "else" or labels.count("else") != 1:
            problems.append(f"{self.name}: the last level, and only it, must be 'else'")
        if self.term_frequency and self.levels[0].kind not in ("exact",):
            problems.append(f"{self.name}: term frequencies need 'exact' as the first level")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LevelParameters(_Frozen):
    """P(level | match) and P(level | non-match)."""

    m: float = Field(gt=0.0, le=1.0)
    u: float = Field(gt=0.0, le=1.0)


class MBound(_Frozen):
    """Where the data cannot teach m (too few examples), training keeps it in these bounds."""

    m_min: float = Field(default=0.0, ge=0.0, le=1.0)
    m_max: float = Field(default=1.0, ge=0.0, le=1.0)


class WeightBound(_Frozen):
    """Training keeps a level's match weight log2(m/u) within these, by moving m.

    u is sampled over the master (two random members are two people); m is what EM learns from
    requests, where a spouse or sibling shares the household's facts and passes for the member.
    A bound holds the weights a relative can exploit where the hand-set policy put them.
    """

    min_weight: float | None = Field(default=None, allow_inf_nan=False)
    max_weight: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> WeightBound:
        if self.min_weight is None and self.max_weight is None:
            raise ValueError("a weight bound needs min_weight, max_weight or both")
        if (
            self.min_weight is not None
            and self.max_weight is not None
            and self.min_weight > self.max_weight
        ):
            raise ValueError("min_weight must not exceed max_weight")
        return self


class RelativeProfile(_Frozen):
    """How a relative looks in the comparison levels (comparison -> the levels it may show;
    comparisons not named are missing). Training refuses a model under which the worst case of
    the profile (the strongest listed level of each comparison, the rarest listed name) reaches
    the review threshold on its weights alone."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")
    description: str = ""
    levels: dict[str, tuple[str, ...]] = Field(min_length=1)


class TermFrequencies(_Frozen):
    """Relative frequency of values in the member master; values not listed get no adjustment."""

    values: dict[str, float] = Field(default_factory=dict)
    minimum_u: float = Field(default=0.0, ge=0.0, lt=1.0)


class ModelSpec(_Frozen):
    """Fellegi-Sunter parameters, hand-set or trained by `identity train` (splink)."""

    prior: float = Field(gt=0.0, lt=1.0, description="P(two random records match)")
    parameters: dict[str, dict[str, LevelParameters]]
    term_frequencies: dict[str, TermFrequencies] = Field(default_factory=dict)
    m_bounds: dict[str, dict[str, MBound]] = Field(default_factory=dict)
    # Training-only, like m_bounds: absent, a policy trains exactly as before they existed.
    weight_bounds: dict[str, dict[str, WeightBound]] = Field(default_factory=dict)
    relative_profiles: tuple[RelativeProfile, ...] = ()
    training: dict[str, Any] | None = None  # provenance: data fingerprint, counts, notes

    def safety_problems(self, declared: dict[str, set[str]]) -> list[str]:
        """Weight bounds and relative profiles must name declared comparisons and levels
        (`declared`: comparison -> level labels); profile names are unique."""
        problems: list[str] = []
        for name, levels in self.weight_bounds.items():
            where = f"model.weight_bounds.{name}"
            if name not in declared:
                problems.append(f"{where}: no such comparison in this policy")
            elif unknown := sorted(set(levels) - declared[name]):
                problems.append(f"{where}: unknown levels {unknown}")
        names = [p.name for p in self.relative_profiles]
        if repeated := sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"model.relative_profiles: names repeat: {repeated}")
        for profile in self.relative_profiles:
            for name, labels in profile.levels.items():
                where = f"model.relative_profiles.{profile.name}.{name}"
                if name not in declared:
                    problems.append(f"{where}: no such comparison in this policy")
                elif not labels:
                    problems.append(f"{where}: list at least one level")
                elif unknown := sorted(set(labels) - declared[name] - {"null"}):
                    problems.append(f"{where}: unknown levels {unknown}")
        return problems


class StewardDecisionsSpec(_Frozen):
    """The `steward-decision` stage: what stewards' remembered decisions do to a later match
    (`ignore`: the policy does not use them). Absent from a policy: the stage does not run."""

    keep_apart: Literal["exclude", "ignore"] = "exclude"
    link: Literal["certain", "ignore"] = "certain"
    same_person: Literal["survivor", "ignore"] = "survivor"


class GivenNameEquivalencesSpec(_Frozen):
    """Given names equivalent beyond the `nicknames` package (see matching/given_names.py).
    Absent from a policy: only the `nicknames` package, as before this section existed.
      diminutives               `listed` (a published diminutives list), `derived` (clipped-stem
                                hypocoristics of real US given names), each of the record's sex
      learn_from_steward_links  pairs stewards linked (a request's given name to a member's)
      min_links                 ...used once linked for this many distinct members"""

    diminutives: tuple[Literal["listed", "derived"], ...] = ()
    learn_from_steward_links: bool = False
    min_links: int = Field(default=2, ge=1, le=1000)

    @field_validator("diminutives")
    @classmethod
    def _once(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(sources)) != len(sources):
            raise ValueError("a diminutives source is listed more than once")
        return sources


class CoverageStatusSpec(_Frozen):
    """What $member-match discloses about former members. CMS payer-to-payer exchange covers
    members who left within the last five years; a member whose coverage ended before the
    look-back is still matched (the evidence says so) but answered as no match unless
    `past_lookback: disclosed`. Absent from a policy: these defaults."""

    lookback_years: int = Field(default=5, ge=1, le=30)
    past_lookback: Literal["not_disclosed", "disclosed"] = "not_disclosed"


class PolicyDocument(_Frozen):
    label: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-_]{0,40}$")
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    blocking: BlockingSpec
    rules: RulesSpec
    predicates: PredicatesSpec = Field(default_factory=PredicatesSpec)
    decision: DecisionSpec
    guards: tuple[GuardSpec, ...] = ()
    steward_decisions: StewardDecisionsSpec | None = None
    given_name_equivalences: GivenNameEquivalencesSpec | None = None
    coverage_status: CoverageStatusSpec = Field(default_factory=CoverageStatusSpec)
    comparisons: tuple[ComparisonSpec, ...] = ()
    model: ModelSpec | None = None

    @model_validator(mode="after")
    def _parts_fit_together(self) -> PolicyDocument:
        """The model and the guards must name the comparisons and levels the policy declares;
        every problem of both is reported at once."""
        problems = self._model_problems() + self._guard_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _guard_problems(self) -> list[str]:
        problems: list[str] = []
        names = [g.name for g in self.guards]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(f"guard names must be unique; repeated: {repeated}")
        if any(g.conditions for g in self.guards) and self.model is None:
            problems.append("guards read comparison levels: declare comparisons and a model")
            return problems
        declared = {c.name: {lv.label for lv in c.levels} | {"null"} for c in self.comparisons}
        for guard in self.guards:
            named = [(c, levels) for cond in guard.conditions for c, levels in cond.items()]
            for comparison, levels in named:
                where = f"guards.{guard.name}.{comparison}"
                if comparison not in declared:
                    problems.append(f"{where}: no such comparison in this policy")
                    continue
                unknown = sorted(set(levels) - declared[comparison])
                if unknown:
                    problems.append(
                        f"{where}: unknown levels {unknown}; known: {sorted(declared[comparison])}"
                    )
        return problems

    def _model_problems(self) -> list[str]:
        """Parameters must name exactly the comparisons and levels the policy declares."""
        if not self.comparisons and self.model is None:
            return []
        if not self.comparisons or self.model is None:
            return ["comparisons and model go together: declare both or neither"]
        problems: list[str] = []
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            problems.append("a comparison is declared twice")
        params = self.model.parameters
        for extra in sorted(set(params) - set(names)):
            problems.append(f"model.parameters.{extra}: no such comparison")
        for comp in self.comparisons:
            given = params.get(comp.name, {})
            labels = [lv.label for lv in comp.levels]
            missing = [lb for lb in labels if lb not in given]
            unknown = sorted(set(given) - set(labels))
            if missing:
                problems.append(f"model.parameters.{comp.name}: no m/u for {missing}")
            if unknown:
                problems.append(f"model.parameters.{comp.name}: unknown levels {unknown}")
        problems += self.model.safety_problems(
            {c.name: {lv.label for lv in c.levels} for c in self.comparisons}
        )
        for name in self.model.term_frequencies:
            comp_spec = next((c for c in self.comparisons if c.name == name), None)
            if comp_spec is None or not comp_spec.term_frequency:
                problems.append(f"model.term_frequencies.{name}: comparison has no term_frequency")
        return problems


class Policy(BaseModel):
    """A loaded policy: the validated document plus its version and source text."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    document: PolicyDocument
    content_hash: str
    source_text: str

    @property
    def version(self) -> str:
        return f"{self.document.label}+{self.content_hash[:12]}"

    @property
    def label(self) -> str:
        return self.document.label


def canonical_hash(document: dict[str, Any]) -> str:
    """sha256 of the document's canonical JSON: comments and layout do not change a version."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _format_error(err: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "(document)"
    return f"{where}: {err['msg']}"


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate a policy document; raise PolicyError listing every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise PolicyError(source, ["the document must be a mapping"])
    try:
        document = PolicyDocument.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(source, [_format_error(dict(e)) for e in exc.errors()]) from exc
    return Policy(document=document, content_hash=canonical_hash(raw), source_text=text)


def load_policy_file(path: Path) -> Policy:
    return parse_policy(path.read_text(encoding="utf-8"), source=str(path))


def policy_files(rules_dir: Path) -> list[Path]:
    return sorted(p for p in rules_dir.glob("*.y*ml") if p.is_file())


def find_policy(rules_dir: Path, ref: str) -> Policy:
    """A policy by file name (with or without extension), label, or full version."""
    candidates = policy_files(rules_dir)
    for path in candidates:
        if ref in (path.name, path.stem):
            return load_policy_file(path)
    for path in candidates:
        policy = load_policy_file(path)
        if ref in (policy.label, policy.version):
            return policy
    raise PolicyError(ref, [f"no policy named {ref!r} in {rules_dir}"])


__all__ = [
    "PREDICATES",
    "Policy",
    "PolicyDocument",
    "PolicyError",
    "canonical_hash",
    "find_policy",
    "load_policy_file",
    "parse_policy",
    "policy_files",
]
