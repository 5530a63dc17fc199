"""Training from stewards' labels (`identity train --labels reviewed`): m estimated from the
request-member pairs stewards settled as the same person, with splink's label-based estimation
(`estimate_m_from_pairwise_labels`), instead of EM.

EM guesses which pairs match from the weights themselves, and on a request stream where
relatives share the household's facts it learns that sharing them is what matching looks like.
A steward's link is a person's judgement that this request is this member: the levels those
pairs reach are what m means. u is sampled over the master as always (two random members are
two people). The prior is kept from the source policy: settled reviews are the doubtful cases,
not a sample of traffic, and say nothing of how often a request matches at random.

The result goes through the same bounds (m_bounds, then the safety weight_bounds), degeneracy
checks, relative profiles and writer as any trained policy: only the source of m differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import splink
from splink import DuckDBAPI
from sqlalchemy.orm import Session

from identity.evaluation.reviewed_labels import LabelledRequest, reviewed_labels
from identity.matching.policy import Policy, PolicyDocument
from identity.matching.record import StandardRecord
from identity.training import repository
from identity.training.data import Incoming, Keyed, Tally, data_fingerprint, master_records
from identity.training.errors import TrainingRefused
from identity.training.estimates import Estimates
from identity.training.service import (
    MIN_MASTER,
    TrainingRun,
    add_policy_charts,
    check_label,
    check_trainable,
    checked_document,
)
from identity.training.splink_model import splink_frame
from identity.training.train import (
    TrainOptions,
    bounded_levels,
    levels_in_model,
    new_linker,
    quiet_splink,
    trained_levels,
    with_u,
)
from identity.training.write import default_label, write_policy

# Fewer settled links than this cannot say what a level's m is (a level a few percent of true
# pairs reach would be seen once or never).
MIN_LABELLED_MATCHES = 50
SOURCE = "stewards' labels"


def labelled_pairs(labels: Sequence[LabelledRequest]) -> tuple[list[Keyed], list[tuple[str, str]]]:
    """The records of every pair stewards settled as the same person, and the pairs (ids):
    `q:<match id>` for the stored request, `m:<match id>:<member id>` for the candidate as it
    was stored with the decision (the member as the steward saw them)."""
    records: list[Keyed] = []
    pairs: list[tuple[str, str]] = []
    for label in labels:
        if not label.same:
            continue
        query_id = f"q:{label.match_id}"
        records.append((query_id, label.query))
        for candidate in label.candidates:
            if candidate.member_id in label.same:
                member_id = f"m:{label.match_id}:{candidate.member_id}"
                records.append((member_id, candidate.record))
                pairs.append((query_id, member_id))
    return records, pairs


def estimate_from_labels(
    document: PolicyDocument,
    records: Sequence[tuple[str, StandardRecord]],
    pairs: Sequence[tuple[str, str]],
    master: Any,
    term_frequencies: dict[str, dict[str, float]],
    options: TrainOptions,
) -> Estimates:
    """u by random sampling over `master` (a frame from `splink_frame`), m from the labelled
    pairs, the prior kept; then the policy's bounds."""
    assert document.model is not None
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with quiet_splink():
        api = DuckDBAPI()
        master_sdf = api.register(master, dataset_display_name="master")
        u_linker = new_linker(api, document, [master_sdf], "dedupe_only")
        u_linker.training.estimate_u_using_random_sampling(
            max_pairs=options.max_pairs, seed=options.seed
        )
        u_sampled = trained_levels(u_linker, "u")
        u_values = {k: mu[1] for k, mu in levels_in_model(u_linker).items() if k in u_sampled}
        timings["u"] = time.perf_counter() - started

        start = with_u(document, u_values, term_frequencies)
        labelled_sdf = api.register(splink_frame(records), dataset_display_name="labelled")
        linker = new_linker(api, start, [labelled_sdf], "dedupe_only")
        table = pd.DataFrame(pairs, columns=["unique_id_l", "unique_id_r"])
        linker.table_management.register_table(table, "__identity_labels", overwrite=True)
        linker.training.estimate_m_from_pairwise_labels("__identity_labels")  # type: ignore[no-untyped-call]
        m_trained = trained_levels(linker, "m")
        final = levels_in_model(linker)
        timings["m from labels"] = time.perf_counter() - started - timings["u"]

    levels = bounded_levels(document, final, m_trained, u_sampled)
    return Estimates(
        prior=document.model.prior,
        levels=levels,
        prior_rules=(),
        recall=1.0,
        deterministic_pairs=0,
        u_max_pairs=options.max_pairs,
        u_seed=options.seed,
        em_runs=[],
        timings=timings,
    )


def _provenance(
    run_at: datetime,
    source: Policy,
    labels: Sequence[LabelledRequest],
    pairs: int,
    master_count: int,
    fingerprint: str,
    estimates: Estimates,
) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for label in labels:
        kinds[label.kind] = kinds.get(label.kind, 0) + 1
    return {
        "trained_at": run_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trained_from": source.version,
        "splink_version": splink.__version__,
        "incoming": {"source": SOURCE, "settlements": dict(sorted(kinds.items()))},
        "data_fingerprint": f"sha256:{fingerprint}",
        "counts": {"master": master_count, "labelled_matches": pairs},
        "prior": {"method": "kept from the source policy"},
        "u": {
            "method": "random sampling over the master",
            "max_pairs": estimates.u_max_pairs,
            "seed": estimates.u_seed,
        },
        "m": {"method": "splink estimate_m_from_pairwise_labels on stewards' links"},
        "notes": {
            "m_clipped": [f"{lv.key} {lv.clipped} {lv.m_estimated!r}" for lv in estimates.clipped],
            "u_default": estimates.u_defaults,
            "m_not_observed": estimates.m_not_observed,
        },
    }


def train_on_labels(
    session: Session,
    tenant: str,
    source: Policy,
    *,
    rules_dir: Path,
    options: TrainOptions | None = None,
    label: str | None = None,
    charts: bool = False,
    now: datetime | None = None,
    min_matches: int = MIN_LABELLED_MATCHES,
    progress: Callable[[str], object] = lambda _: None,
) -> TrainingRun:
    """Train `source`'s m on the tenant's settled review items; reads only. Writes a new policy
    file when the checks pass (as `train_policy` does)."""
    options = options or TrainOptions()
    run_at = now or datetime.now(UTC)
    document = source.document
    check_trainable(document)
    label = label or default_label(document.label, run_at)
    check_label(rules_dir, label)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    progress("reading the stewards' settlements")
    labels = [lb for lb in reviewed_labels(session, tenant) if lb.same]
    records, pairs = labelled_pairs(labels)
    if len(pairs) < min_matches:
        raise TrainingRefused(
            f"too few labels: stewards linked {len(pairs)} request(s) of {tenant} to a member; "
            f"training m from labels needs at least {min_matches}",
            ["settle more review items, or train on the stored requests (without --labels)"],
        )
    master_count = repository.count_members(session, tenant)
    if master_count < MIN_MASTER:
        raise TrainingRefused(
            f"too small a member master: {master_count} member(s) for {tenant}; "
            f"training needs at least {MIN_MASTER}"
        )
    progress(f"reading {master_count:,} members")
    tf_comparisons = [c.name for c in document.comparisons if c.term_frequency]
    master_tally = Tally("master", tf_comparisons)
    master_frame = splink_frame(master_tally.watch(master_records(session, tenant)))
    labelled_tally = Tally("labelled")
    list(labelled_tally.watch(records))
    term_frequencies = {c: master_tally.term_frequencies(c) for c in tf_comparisons}
    fingerprint = data_fingerprint(labelled_tally, master_tally)
    timings["read"] = time.perf_counter() - started

    progress("estimating u by sampling and m from the labels with splink")
    estimates = estimate_from_labels(
        document, records, pairs, master_frame, term_frequencies, options
    )
    del master_frame
    timings.update({f"splink {k}": v for k, v in estimates.timings.items()})

    training = _provenance(
        run_at, source, labels, len(pairs), master_tally.count, fingerprint, estimates
    )
    text, problems, relatives = checked_document(
        source,
        estimates,
        label,
        term_frequencies,
        training,
        command="identity train --labels reviewed",
        how=": m from stewards' links",
    )
    queries = [(key, record) for key, record in records if key.startswith("q:")]
    run = TrainingRun(
        tenant=tenant,
        source=source,
        label=label,
        incoming=Incoming(SOURCE, queries),
        master_count=master_tally.count,
        fingerprint=fingerprint,
        estimates=estimates,
        term_frequency_counts={c: len(v) for c, v in term_frequencies.items()},
        problems=problems,
        document_text=text,
        timings=timings,
        relatives=relatives,
    )
    if not problems:
        run.path, run.written = write_policy(rules_dir, label, text)
    if charts:
        add_policy_charts(run)
    return run


def labels_report(run: TrainingRun) -> str:
    """What was learnt from the labels, level by level (m before and after, u, weight)."""
    e = run.estimates
    lines = [
        f"identity train --labels reviewed: tenant {run.tenant}, policy {run.source.version}",
        f"  labelled requests {len(run.incoming.records):,} (stewards' links), master "
        f"{run.master_count:,} members, prior {e.prior:.3g} (kept)",
        f"  {'level':36} {'m before':>10} {'m':>10} {'u':>10} {'weight':>7}",
    ]
    model = run.source.document.model
    assert model is not None
    for lv in e.levels:
        before = model.parameters[lv.comparison][lv.level].m
        mark = "" if lv.m_trained else "  (not in the labels: kept)"
        if lv.clipped:
            mark += f"  (clipped: {lv.clipped})"
        lines.append(
            f"  {lv.key:36} {before:>10.4g} {lv.m:>10.4g} {lv.u:>10.4g} "
            f"{lv.match_weight:>+7.2f}{mark}"
        )
    return "\n".join(lines) + "\n"
