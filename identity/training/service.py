"""The training use case: read both sides, estimate, check, write a new policy version.

Reads only; the caller owns the (read-only) transaction. A refusal before estimation raises
`TrainingRefused`; a model that fails the degeneracy checks comes back with its `problems` and
no file, so the caller can still show the report and charts of what went wrong.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import splink
from sqlalchemy.orm import Session

from identity.matching.given_names import GivenNames
from identity.matching.policy import Policy, PolicyDocument, PolicyError, parse_policy
from identity.training import repository
from identity.training.checks import degeneracy_problems
from identity.training.data import (
    Incoming,
    Keyed,
    Tally,
    data_fingerprint,
    extract_records,
    master_records,
    request_records,
)
from identity.training.errors import TrainingRefused
from identity.training.estimates import Estimates
from identity.training.relatives import ProfileScore, profile_scores, refusal
from identity.training.splink_model import splink_frame
from identity.training.train import TrainOptions, estimate, policy_charts
from identity.training.write import (
    default_label,
    label_in_use,
    render,
    trained_document,
    write_policy,
)

MIN_INCOMING = 200
MIN_MASTER = 200
_LABEL = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_]{0,40}$")  # PolicyDocument.label's pattern


@dataclass
class TrainingRun:
    """Everything a report needs, and the new policy when one was written."""

    tenant: str
    source: Policy
    label: str
    incoming: Incoming
    master_count: int
    fingerprint: str
    estimates: Estimates
    term_frequency_counts: dict[str, int]
    problems: list[str]
    document_text: str
    path: Path | None = None
    written: Policy | None = None
    charts: dict[str, dict[str, Any]] = field(default_factory=dict)
    chart_note: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # The policy's relative profiles scored under the trained model (worst case each).
    relatives: list[ProfileScore] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.written is not None


def check_trainable(document: PolicyDocument) -> None:
    if document.model is None or not document.comparisons:
        raise TrainingRefused(
            f"policy {document.label} has no probabilistic stage (comparisons and model) to train"
        )


def check_label(rules_dir: Path, label: str) -> None:
    """Fail before the expensive part, not after it."""
    if not _LABEL.match(label):
        raise TrainingRefused(
            f"label {label!r} is not a policy label (letters, digits, '.', '-', '_'; "
            "at most 41 characters, starting with a letter or digit)"
        )
    if (rules_dir / f"{label}.yaml").exists():
        raise TrainingRefused(f"{label}.yaml already exists in {rules_dir}; pass another --label")
    if (other := label_in_use(rules_dir, label)) is not None:
        raise TrainingRefused(f"label {label!r} is already used by {other.name}; pass --label")


def _provenance(
    run_at: datetime,
    source: Policy,
    incoming: Incoming,
    master_count: int,
    fingerprint: str,
    estimates: Estimates,
    extracts: Sequence[Path],
) -> dict[str, Any]:
    """model.training: enough to tell later what this model was trained on and how."""
    runs = estimates.em_runs
    source_info: dict[str, Any] = {"source": incoming.source}
    if extracts:
        source_info["files"] = [p.name for p in extracts]
    return {
        "trained_at": run_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trained_from": source.version,
        "splink_version": splink.__version__,
        "link_type": "link_only",
        "incoming": source_info,
        "data_fingerprint": f"sha256:{fingerprint}",
        "counts": {
            "master": master_count,
            "incoming": len(incoming.records),
            "incoming_skipped": incoming.skipped,
            "deterministic_links": estimates.deterministic_pairs,
            "em_pairs": {r.blocking_rule: r.pairs for r in runs},
        },
        "prior": {
            "method": "deterministic rules / recall",
            "deterministic_rules": list(estimates.prior_rules),
            "recall": estimates.recall,
        },
        "u": {
            "method": "random sampling over the master",
            "max_pairs": estimates.u_max_pairs,
            "seed": estimates.u_seed,
        },
        "em_blocking_rules": [r.blocking_rule for r in runs],
        "em": [r.as_dict() for r in runs],
        "notes": {
            "m_clipped": [f"{lv.key} {lv.clipped} {lv.m_estimated!r}" for lv in estimates.clipped],
            "u_default": estimates.u_defaults,
            "m_not_observed": estimates.m_not_observed,
        },
    }


class _Clock:
    """Seconds per phase, in the order the phases ran."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._last
        self._last = now

    def skip(self) -> None:
        """Start the next phase now: the time since was recorded elsewhere."""
        self._last = time.perf_counter()


def _check_incoming(incoming: Incoming, where: str) -> None:
    if len(incoming.records) < MIN_INCOMING:
        raise TrainingRefused(
            f"too little incoming data: {len(incoming.records)} record(s) from {where}; "
            f"training needs at least {MIN_INCOMING}",
            [
                "EM learns how the same person's records differ from incoming records linked "
                "to the master: "
                + (
                    "give a larger extract"
                    if incoming.source == "extract"
                    else "pass a second extract of members with --extract, or wait for more "
                    "match requests"
                ),
                *incoming.notes,
            ],
        )


def checked_document(
    source: Policy,
    estimates: Estimates,
    label: str,
    term_frequencies: dict[str, dict[str, float]],
    training: dict[str, Any],
    *,
    command: str,
    how: str = "",
) -> tuple[str, list[str], list[ProfileScore]]:
    """The trained policy's text, headed by how it was made, and every reason to refuse it: the
    estimates' degeneracy and the relative profiles scored on exactly this text. One place for
    EM training and training from stewards' labels."""
    problems = degeneracy_problems(estimates)
    new_document = trained_document(
        source, estimates, label=label, term_frequencies=term_frequencies, training=training
    )
    header = (
        f"Trained by `{command}` from policy {source.version} "
        f"at {training['trained_at']} (splink {splink.__version__}){how}.\n"
        "Parameters, term frequencies and their provenance (model.training) are generated: "
        "retrain rather than edit."
    )
    text = render(new_document, header)
    relatives, relative_refusals = _relatives_check(text, label)
    return text, problems + relative_refusals, relatives


def add_policy_charts(run: TrainingRun) -> None:
    """The match-weight and m/u charts of the policy written (or, refused, of its text)."""
    try:
        drawn = run.written or parse_policy(run.document_text, source=f"{run.label} (refused)")
        run.charts.update(policy_charts(drawn.document))
    except (PolicyError, ValueError) as exc:
        run.chart_note = f"the match weights and m/u charts could not be drawn: {exc}"


def _relatives_check(text: str, label: str) -> tuple[list[ProfileScore], list[str]]:
    """The relative profiles scored on exactly the document to be written (its weights, prior,
    term frequencies and review threshold), and a refusal reason for each that reaches review.

    Refused, not warned: a model under which a spouse's household facts outweigh a different
    given name and birth date leaves the negative rules as the only defence, and a relative
    they miss (a sibling's name one keystroke from the member's) is a stranger's health history
    sent on. The analyst tightens the policy's weight_bounds and trains again.
    """
    try:
        document = parse_policy(text, source=label).document
    except PolicyError:
        return [], []  # write_policy refuses it with every reason
    scores = profile_scores(document)
    return scores, [refusal(s) for s in scores if not s.ok]


def train_policy(
    session: Session,
    tenant: str,
    source: Policy,
    *,
    rules_dir: Path,
    extracts: Sequence[Path] = (),
    options: TrainOptions | None = None,
    label: str | None = None,
    charts: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], object] = lambda _: None,
) -> TrainingRun:
    """Train on the tenant's members and stored match requests (or `extracts`)."""
    run_at = now or datetime.now(UTC)
    check_trainable(source.document)
    label = label or default_label(source.document.label, run_at)
    check_label(rules_dir, label)
    timings: dict[str, float] = {}
    clock = _Clock(timings)
    progress("reading the incoming side")
    if extracts:
        incoming = extract_records(extracts, today=run_at.date())
        _check_incoming(incoming, "the --extract files")
    else:
        incoming = request_records(session, tenant)
        _check_incoming(incoming, f"stored match requests of {tenant}")
    master_count = repository.count_members(session, tenant)
    clock.lap("read incoming")
    return train_sides(
        tenant,
        source,
        incoming,
        master_records(session, tenant),
        master_count,
        rules_dir=rules_dir,
        extracts=extracts,
        options=options,
        label=label,
        charts=charts,
        now=run_at,
        progress=progress,
        timings=timings,
    )


def train_sides(
    tenant: str,
    source: Policy,
    incoming: Incoming,
    master: Iterable[Keyed],
    master_count: int,
    *,
    rules_dir: Path,
    extracts: Sequence[Path] = (),
    options: TrainOptions | None = None,
    label: str | None = None,
    charts: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], object] = lambda _: None,
    timings: dict[str, float] | None = None,
) -> TrainingRun:
    """Train on two sides already chosen: `master` streams past once (it can be a million)."""
    options = options or TrainOptions()
    run_at = now or datetime.now(UTC)
    document = source.document
    check_trainable(document)
    label = label or default_label(document.label, run_at)
    check_label(rules_dir, label)
    _check_incoming(incoming, incoming.source)
    if master_count < MIN_MASTER:
        raise TrainingRefused(
            f"too small a member master: {master_count} member(s) for {tenant}; "
            f"training needs at least {MIN_MASTER}"
        )
    timings = {} if timings is None else timings
    clock = _Clock(timings)
    incoming_tally = Tally("incoming")
    # Given names widened as the policy's online matching widens them (static sources only:
    # learned pairs are per tenant and change), after the tally: the data fingerprint stays.
    widen = GivenNames.of(document.given_name_equivalences).record
    incoming_frame = splink_frame((k, widen(r)) for k, r in incoming_tally.watch(incoming.records))
    clock.lap("read incoming")

    progress(f"reading {master_count:,} members")
    tf_comparisons = [c.name for c in document.comparisons if c.term_frequency]
    master_tally = Tally("master", tf_comparisons)
    master_frame = splink_frame((k, widen(r)) for k, r in master_tally.watch(master))
    clock.lap("read master")
    term_frequencies = {c: master_tally.term_frequencies(c) for c in tf_comparisons}
    fingerprint = data_fingerprint(incoming_tally, master_tally)
    clock.lap("fingerprint, frequencies")

    progress("estimating u, the prior and m with splink")
    trained = estimate(document, incoming_frame, master_frame, term_frequencies, options)
    del incoming_frame, master_frame
    estimates = trained.estimates
    timings.update({f"splink {k}": v for k, v in estimates.timings.items()})
    clock.skip()

    training = _provenance(
        run_at, source, incoming, master_tally.count, fingerprint, estimates, extracts
    )
    text, problems, relatives = checked_document(
        source, estimates, label, term_frequencies, training, command="identity train"
    )
    run = TrainingRun(
        tenant=tenant,
        source=source,
        label=label,
        incoming=incoming,
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
    clock.lap("check and write")

    if charts:
        progress("drawing the charts")
        if trained.estimate_chart:
            run.charts["EM estimates of m, per blocking rule"] = trained.estimate_chart
        add_policy_charts(run)
        clock.lap("charts")
    return run
