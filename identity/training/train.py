"""The estimation, with splink on DuckDB: u from the master, the prior, m by EM, then m_bounds.

1. u by random sampling over the master alone (dedupe_only, a bounded number of pairs): two
   random members are, for all practical purposes, two different people.
2. The prior from deterministic rules that are near-certain (member id; SSN and birth date) on the
   link between the incoming records and the master, scaled up by the rules' assumed recall. The
   service scores one incoming record against members, so this is the prior it needs.
3. m by EM on that link, once per blocking rule; each comparison is estimated in the sessions that
   do not block on its columns, and splink keeps the median of its estimates.
4. The policy's m_bounds clip m where the data cannot teach it; then its weight_bounds clip m
   where a relative sharing the household's facts would teach EM the wrong thing.

Levels random sampling never saw keep the policy's u, and levels EM never observed keep the
policy's m; both are listed, so the report can say which numbers are still hand-set.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from splink import DuckDBAPI, Linker, block_on
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.splink_dataframe import SplinkDataFrame

from identity.matching.policy import LevelParameters, PolicyDocument, TermFrequencies
from identity.training.engines import DUCKDB, SplinkEngine
from identity.training.errors import TrainingRefused
from identity.training.estimates import (
    EmRun,
    Estimates,
    LevelEstimate,
    apply_m_bounds,
    apply_weight_bounds,
)
from identity.training.splink_model import (
    LinkType,
    splink_frame,
    splink_settings,
    term_frequency_tables,
)

# Near-certain links between a request and a member: the payer's own id, or SSN with birth date.
PRIOR_RULES: tuple[tuple[str, ...], ...] = (("member_id",), ("ssn", "birth_date"))
# Each comparison is left free by at least one: birth date alone; phonetic family name + ZIP
# (frees given name and birth date); given + family name (frees birth date and household).
EM_RULES: tuple[tuple[str, ...], ...] = (
    ("birth_date",),
    ("family_phonetic", "zip5"),
    ("given", "family"),
)
NOT_OBSERVED = "level not observed"  # splink's LEVEL_NOT_OBSERVED_TEXT starts so


@dataclass(frozen=True, slots=True)
class TrainOptions:
    # Pairs of members sampled for u; splink suggests 1e7 to 1e9, more is slower.
    max_pairs: int = 10_000_000
    # Share of true links the deterministic rules find: requests often lack the member id.
    recall: float = 0.6
    seed: int = 42
    # u sampling stops early once every level has this many pairs (splink's default); None
    # counts every sampled pair, so that two engines, which chunk pairs by different hashes,
    # count the same ones.
    u_min_count: int | None = 100
    # EM runs on at most this many blocked pairs per rule (splink samples beyond it).
    em_max_pairs: int = 5_000_000
    prior_rules: tuple[tuple[str, ...], ...] = PRIOR_RULES
    em_rules: tuple[tuple[str, ...], ...] = EM_RULES
    # DuckDB on this host, or Spark for a master one host cannot hold.
    engine: SplinkEngine = DUCKDB


@dataclass
class Trained:
    estimates: Estimates
    # splink's chart of each EM session's m estimates, for the report (vega-lite spec).
    estimate_chart: dict[str, Any] | None


@contextmanager
def quiet_splink() -> Iterator[None]:
    """splink warns per unobserved level on stderr; the report lists them once, in our terms."""
    splink_logger = logging.getLogger("splink")
    before = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        splink_logger.setLevel(before)


def _rule_sql(columns: Sequence[str]) -> str:
    return " AND ".join(f"l.{c} = r.{c}" for c in columns)


def _rule(columns: Sequence[str]) -> BlockingRuleCreator:
    return block_on(*columns)


def new_linker(
    api: DatabaseAPISubClass,
    document: PolicyDocument,
    inputs: Sequence[SplinkDataFrame],
    link_type: LinkType,
    engine: SplinkEngine = DUCKDB,
) -> Linker:
    settings = splink_settings(document, link_type, engine=engine)
    linker = Linker(list(inputs) if len(inputs) > 1 else inputs[0], settings, log_level=None)
    term_frequency_tables(linker, api, document, engine)
    return linker


def levels_in_model(linker: Linker) -> dict[tuple[str, str], tuple[float, float]]:
    """(comparison, level label) -> (m, u) as the linker holds them now."""
    model = linker.misc.save_model_to_json()
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            key = (comparison["output_column_name"], level["label_for_charts"])
            out[key] = (
                float(level.get("m_probability", math.nan)),
                float(level.get("u_probability", math.nan)),
            )
    return out


def trained_levels(linker: Linker, m_or_u: str) -> set[tuple[str, str]]:
    """Levels with at least one numeric estimate of m (or u) in this linker's training history."""
    chart = linker.visualisations.parameter_estimate_comparisons_chart(
        include_m=m_or_u == "m", include_u=m_or_u == "u"
    )
    records = [cast(dict[str, Any], r) for r in chart.raw_records]
    return {
        (str(r["comparison_name"]), str(r["comparison_level_label"]))
        for r in records
        if r["m_or_u"] == m_or_u
        and isinstance(r["estimated_probability"], int | float)
        and not str(r["estimated_probability"]).startswith(NOT_OBSERVED)
    }


def with_u(
    document: PolicyDocument, u: dict[tuple[str, str], float], tf: dict[str, dict[str, float]]
) -> PolicyDocument:
    """The document splink starts EM from: sampled u where there is one, master name
    frequencies as the term-frequency tables (the ones the written policy will carry)."""
    model = document.model
    assert model is not None  # splink_settings refused a policy without one already
    parameters = {
        name: {
            label: LevelParameters(m=p.m, u=u.get((name, label), p.u))
            for label, p in levels.items()
        }
        for name, levels in model.parameters.items()
    }
    term_frequencies = {
        name: TermFrequencies(
            values=values,
            minimum_u=old.minimum_u if (old := model.term_frequencies.get(name)) else 0.0,
        )
        for name, values in tf.items()
    }
    new_model = model.model_copy(
        update={"parameters": parameters, "term_frequencies": term_frequencies}
    )
    return document.model_copy(update={"model": new_model})


def _em_run(
    linker: Linker,
    inputs: Sequence[SplinkDataFrame],
    columns: Sequence[str],
    max_pairs: int,
) -> EmRun:
    counted = count_comparisons_from_blocking_rules(
        list(inputs),
        blocking_rules=[_rule(columns)],
        link_type="link_only",
        record_sample_proportion=1.0,
    )
    pairs = int(counted[0]["cumulative_comparison_count"])
    if pairs == 0:
        raise TrainingRefused(
            f"EM blocking rule {_rule_sql(columns)} links no incoming record to any member"
        )
    # A failed EM session leaves the linker without the comparisons it blocked on (splink 5.0
    # filters them out of the linker's own settings and puts them back only on success).
    before = linker._settings_obj.core_model_settings.copy()  # type: ignore[no-untyped-call]
    sampled_to = max_pairs if pairs > max_pairs else None
    try:
        session = linker.training.estimate_parameters_using_expectation_maximisation(
            _rule(columns), max_pairs=sampled_to
        )
    except ValueError as exc:
        linker._settings_obj.core_model_settings = before
        # splink refuses an m below 1e-300 mid-EM: every pair at some level was judged a
        # non-match, the collapse the checks look for, caught in the act. Likewise a "math
        # domain error": the block's match share reached 0 or 1 (a block of near-certain
        # matches, e.g. on both names), so no weight exists. The session adds nothing; the
        # others go on, so the report can list every reason.
        if "below the minimum allowed" not in str(exc) and "math domain error" not in str(exc):
            raise
        return EmRun(
            _rule_sql(columns),
            pairs,
            0,
            False,
            (),
            error="EM collapsed: an m fell to 0 (every pair at some level judged a non-match)",
            sampled_to=sampled_to,
        )
    history = session._core_model_settings_history  # private: no public history
    iterations = len(history) - 1
    settings = linker.misc.save_model_to_json()
    converged = iterations < int(settings["max_iterations"]) or _last_change(history) < float(
        settings["em_convergence"]
    )
    estimated = tuple(c.output_column_name for c in session.core_model_settings.comparisons)
    return EmRun(_rule_sql(columns), pairs, iterations, converged, estimated, None, sampled_to)


def _last_change(history: Sequence[Any]) -> float:
    """The largest change of any m in the last EM iteration."""
    if len(history) < 2:
        return math.inf
    change = 0.0
    for before, after in zip(history[-2].comparisons, history[-1].comparisons, strict=True):
        for a, b in zip(before.comparison_levels, after.comparison_levels, strict=True):
            if not a.is_null_level:
                change = max(change, abs(float(b.m_probability) - float(a.m_probability)))
    return change


def estimate(
    document: PolicyDocument,
    incoming: Any,
    master: Any,
    term_frequencies: dict[str, dict[str, float]],
    options: TrainOptions,
) -> Trained:
    """Estimate the model for `document` on `incoming` linked to `master`.

    `incoming` and `master` are pandas frames from `splink_frame`; `term_frequencies` are the
    master's name frequencies (the frame of the master has to be built before they are known).
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    engine = options.engine
    with quiet_splink(), engine.api() as api:
        master_sdf = api.register(engine.table(master), dataset_display_name="master")
        incoming_sdf = api.register(engine.table(incoming), dataset_display_name="incoming")
        lap("register")

        u_linker = new_linker(api, document, [master_sdf], "dedupe_only", engine)
        u_linker.training.estimate_u_using_random_sampling(
            max_pairs=options.max_pairs,
            seed=options.seed,
            min_count_per_level=options.u_min_count,
            num_chunks=engine.u_chunks,
        )
        u_sampled = trained_levels(u_linker, "u")
        u_values = {k: mu[1] for k, mu in levels_in_model(u_linker).items() if k in u_sampled}
        lap("u")

        start = with_u(document, u_values, term_frequencies)
        inputs = [incoming_sdf, master_sdf]
        linker = new_linker(api, start, inputs, "link_only", engine)
        try:
            linker.training.estimate_probability_two_random_records_match(
                [_rule(c) for c in options.prior_rules], recall=options.recall
            )
        except ValueError as exc:  # more deterministic links than the recall allows
            raise TrainingRefused("the prior cannot be estimated", [str(exc)]) from exc
        prior = float(linker.misc.save_model_to_json()["probability_two_random_records_match"])
        deterministic = round(prior * options.recall * len(incoming) * len(master))
        lap("prior")

        runs = []
        for i, columns in enumerate(options.em_rules, start=1):
            runs.append(_em_run(linker, inputs, columns, options.em_max_pairs))
            lap(f"em {i}")

        m_trained = trained_levels(linker, "m")
        final = levels_in_model(linker)
        chart = linker.visualisations.parameter_estimate_comparisons_chart().chart_dict
        lap("results")

    levels = bounded_levels(document, final, m_trained, u_sampled)
    estimates = Estimates(
        prior=prior,
        levels=levels,
        prior_rules=tuple(_rule_sql(c) for c in options.prior_rules),
        recall=options.recall,
        deterministic_pairs=deterministic,
        u_max_pairs=options.max_pairs,
        u_seed=options.seed,
        em_runs=runs,
        timings=timings,
    )
    return Trained(estimates, chart)


def policy_charts(document: PolicyDocument) -> dict[str, dict[str, Any]]:
    """splink's match weights and m/u charts of a policy, drawn from its own parameters (no data
    needed), so they show exactly what the service will use."""
    with quiet_splink():
        api = DuckDBAPI()
        empty = api.register(splink_frame([]), dataset_display_name="empty")
        linker = new_linker(api, document, [empty], "dedupe_only")
        return {
            "Match weights": linker.visualisations.match_weights_chart().chart_dict,
            "m and u parameters": linker.visualisations.m_u_parameters_chart().chart_dict,
        }


def bounded_levels(
    document: PolicyDocument,
    final: Mapping[tuple[str, str], tuple[float, float]],
    m_trained: Collection[tuple[str, str]],
    u_sampled: Collection[tuple[str, str]],
) -> list[LevelEstimate]:
    """Every level's m and u as splink left them, in policy order, then clipped into the
    policy's m_bounds and weight_bounds (what the service will score with), whichever way m
    was estimated (EM or stewards' labels)."""
    levels = []
    for spec in document.comparisons:
        for level in spec.levels:
            key = (spec.name, level.label)
            m, u = final[key]
            levels.append(
                LevelEstimate(
                    comparison=spec.name,
                    level=level.label,
                    kind=level.kind,
                    m=m,
                    u=u,
                    m_trained=key in m_trained,
                    u_trained=key in u_sampled,
                    m_estimated=m,
                )
            )
    assert document.model is not None
    levels = apply_m_bounds(levels, document.model.m_bounds)
    return apply_weight_bounds(levels, document.model.weight_bounds)
