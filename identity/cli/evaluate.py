"""`identity evaluate`: a policy measured on labelled requests, in-process, nothing written.

Against the tenant's member master (the configured database: read, then rolled back), or a
built-in data set loaded into a temporary SQLite. With costs, the thresholds and margin are
swept under the real decision and the cheapest point within review capacity is written as a
candidate policy file.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from identity.cli.common import audit_read, fail, open_sessions
from identity.cli.policy_diff import policy_from_anywhere
from identity.config import Settings, load_settings
from identity.db import bind_tenant, finish
from identity.evaluation import datasets
from identity.evaluation.cost import (
    Capacity,
    Costs,
    NoFeasiblePoint,
    Recommendation,
    candidate_label,
    candidate_policy_text,
    recommend,
)
from identity.evaluation.datasets import Dataset
from identity.evaluation.labels import LabelError, LabelledQuery, read_labelled
from identity.evaluation.metrics import Verdict
from identity.evaluation.policies import resolve_policy
from identity.evaluation.run import Evaluation
from identity.evaluation.run import evaluate as run_evaluation
from identity.evaluation.sweep import Sweep, sweep
from identity.matching.policy import Policy, PolicyError
from identity.policy.service import active_policy_version, stored_policy

BUILT_IN_TENANT = "evaluation"


def evaluate(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (payer) id.")] = None,
    requests: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="NDJSON: one /v1/match body a line, with its `id`."),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="CSV: request_id,member_ids[,tags]."),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="A built-in data set instead: febrl4, febrl3 or synthetic."),
    ] = None,
    members: Annotated[int, typer.Option(help="synthetic: members generated.")] = 20_000,
    queries: Annotated[int, typer.Option(help="synthetic: requests generated.")] = 4_000,
    seed: Annotated[int, typer.Option(help="synthetic: the generator's seed.")] = 7,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="A policy file, a stored version, or a name in matching_rules/ "
            "(default: the tenant's active policy; for a built-in set, `default`).",
        ),
    ] = None,
    cost_false_match: Annotated[
        float | None, typer.Option(help="Cost of one false match (any unit).")
    ] = None,
    cost_missed: Annotated[float | None, typer.Option(help="Cost of one missed match.")] = None,
    cost_review: Annotated[float | None, typer.Option(help="Cost of one review.")] = None,
    review_capacity: Annotated[
        float | None, typer.Option(help="Reviews the stewards can settle a day.")
    ] = None,
    volume: Annotated[float | None, typer.Option(help="Match requests a day.")] = None,
    write_policy: Annotated[
        Path | None,
        typer.Option(
            dir_okay=False,
            help="Where the candidate policy goes (default: matching_rules/<label>.yaml).",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    labels: Annotated[
        str | None,
        typer.Option(help="`reviewed`: the tenant's settled review items as the labelled set."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Write the offline HTML report (charts inline)."),
    ] = None,
) -> None:
    """Measure a policy on labelled requests: precision, recall, review rate, false matches by
    tag; with costs, recommend thresholds and write them as a candidate policy."""
    settings = load_settings()
    costs = _costs(cost_false_match, cost_missed, cost_review)
    capacity = _capacity(review_capacity, volume, costs)
    today = datetime.now(UTC).date()
    if labels is not None:
        if labels != "reviewed" or dataset is not None or requests is not None or truth:
            raise fail("--labels takes `reviewed`, without --dataset, --requests, --truth", 2)
        factory = open_sessions(settings)
        evaluation = _reviewed(factory, settings, tenant or settings.default_tenant, policy)
        _audited(factory, evaluation, "review_item")
    elif dataset is not None:
        if requests is not None or truth is not None:
            raise fail("give either --dataset or --requests and --truth", 2)
        chosen = _policy_for_built_in(settings, policy)
        with _built_in(settings, dataset, members, queries, seed, today) as (session, data):
            evaluation = _run(session, BUILT_IN_TENANT, chosen, data.queries, data.name, progress)
    else:
        if requests is None or truth is None:
            raise fail("give --requests and --truth (or --dataset)", 2)
        try:
            labelled = read_labelled(requests, truth, today)
        except LabelError as exc:
            for problem in exc.problems:
                typer.secho(problem, fg="red", err=True)
            raise fail("the labelled files are not valid; nothing was evaluated", 2) from exc
        tenant = tenant or settings.default_tenant
        factory = open_sessions(settings)
        session = factory()
        try:
            bind_tenant(session, tenant)
            chosen = _tenant_policy(session, settings, tenant, policy)
            evaluation = _run(session, tenant, chosen, labelled, requests.name, progress)
        finally:
            finish(session, commit=False)  # read only: nothing to keep
        _audited(factory, evaluation, "member")
    typer.echo(render(evaluation))
    swept: Sweep | None = None
    if costs is not None:
        swept = sweep(evaluation)
        reduce_s, grid_s = swept.seconds
        typer.echo(
            f"\nswept {len(swept.grid)} threshold points over {swept.requests} requests in "
            f"{reduce_s + grid_s:.2f} s ({reduce_s:.2f} s reading the requests once, "
            f"{grid_s:.2f} s the grid)"
        )
        _recommend(settings, evaluation, swept, costs, capacity, write_policy)
    if report is not None:
        from identity.evaluation.report import analysis_report

        html = analysis_report(evaluation=evaluation, swept=swept or sweep(evaluation))
        report.write_text(html, encoding="utf-8")
        typer.echo(f"report: {report}")


def _audited(factory: sessionmaker[Session], evaluation: Evaluation, read: str) -> None:
    """A tenant's evaluation read its members (with `--labels reviewed`, its settled review items
    and their evidence): one `evaluation.run` event; the labelled file is the analyst's own."""
    audit_read(
        factory,
        evaluation.tenant,
        action="evaluation.run",
        read=read,
        policy_version=evaluation.policy.version,
    )


def _reviewed(
    factory: sessionmaker[Session], settings: Settings, tenant: str, ref: str | None
) -> Evaluation:
    """The tenant's settled review items, re-decided under the policy (read only)."""
    from identity.evaluation.reviewed_labels import evaluate_reviewed, reviewed_labels

    session = factory()
    try:
        bind_tenant(session, tenant)
        chosen = _tenant_policy(session, settings, tenant, ref)
        labelled = reviewed_labels(session, tenant)
    finally:
        finish(session, commit=False)
    if not any(label.complete for label in labelled):
        raise fail(f"no settled review item of {tenant} to measure on", 2)
    return evaluate_reviewed(chosen, labelled, tenant=tenant)


def _costs(false_match: float | None, missed: float | None, review: float | None) -> Costs | None:
    given = [v for v in (false_match, missed, review) if v is not None]
    if not given:
        return None
    if false_match is None or missed is None or review is None or min(given) < 0:
        message = "give all three costs, each >= 0 (--cost-false-match, --cost-missed, ...)"
        raise fail(message, 2)
    return Costs(false_match, missed, review)


def _capacity(reviews: float | None, volume: float | None, costs: Costs | None) -> Capacity | None:
    if reviews is None and volume is None:
        return None
    if reviews is None or volume is None or reviews < 0 or volume <= 0:
        raise fail("--review-capacity and --volume go together (reviews and requests a day)", 2)
    if costs is None:
        raise fail("a review capacity needs the three costs", 2)
    return Capacity(reviews, volume)


def _tenant_policy(session: Session, settings: Settings, tenant: str, ref: str | None) -> Policy:
    try:
        if ref is not None:
            return resolve_policy(session, settings.rules_dir, ref)
        version = active_policy_version(session, tenant)
        if version is None:
            raise fail(f"no policy is active for {tenant}; name one with --policy", 2)
        return stored_policy(session, version)
    except PolicyError as exc:
        raise fail(str(exc), 2) from exc


def _policy_for_built_in(settings: Settings, ref: str | None) -> Policy:
    """A file or a name in matching_rules/ first; else a version stored in the database."""
    return policy_from_anywhere(settings, ref or "default")


@contextmanager
def _built_in(
    settings: Settings, name: str, members: int, queries: int, seed: int, today: date
) -> Iterator[tuple[Session, Dataset]]:
    """The data set's master in a temporary SQLite, and a read-only session on it."""
    if name not in datasets.BUILT_IN:
        raise fail(f"unknown data set {name!r}; built in: {', '.join(datasets.BUILT_IN)}", 2)
    with tempfile.TemporaryDirectory(prefix="identity-evaluate-") as tmp:
        if name == "synthetic":
            data = datasets.synthetic(
                Path(tmp), members=members, queries=queries, seed=seed, today=today
            )
        else:
            data = datasets.febrl4() if name == "febrl4" else datasets.febrl3()
        with datasets.loaded(data, settings, BUILT_IN_TENANT) as (session, count):
            typer.echo(f"{data.name}: {count} members loaded into a temporary database", err=True)
            yield session, data


def _run(
    session: Session,
    tenant: str,
    policy: Policy,
    labelled: list[LabelledQuery],
    name: str,
    progress: bool,
) -> Evaluation:
    from tqdm import tqdm

    today = datetime.now(UTC).date()
    with tqdm(
        total=len(labelled), unit="req", desc="evaluating", disable=not progress, file=sys.stderr
    ) as bar:
        return run_evaluation(
            session, tenant, policy, labelled, today=today, dataset=name, progress=bar.update
        )


def render(evaluation: Evaluation) -> str:
    """The figures an analyst reads first."""
    m = evaluation.metrics
    mean, p95, most = evaluation.candidates_per_query
    c = m.counts
    lines = [
        f"{evaluation.dataset} under {evaluation.policy.version} (tenant {evaluation.tenant})",
        f"  requests           {m.requests} ({m.enrolled} enrolled; {evaluation.refused} refused "
        "as invalid, not counted)",
        f"  precision          {m.precision:.4f} ({c[Verdict.TRUE_MATCH]} right of {m.matches} "
        "matches)",
        f"  recall             {m.recall:.4f} (matched right, or a duplicate enrolment reviewed)",
        f"  review rate        {m.review_rate:.4f} ({m.reviews} reviews, "
        f"{c[Verdict.DUPLICATE_REVIEW]} of a duplicate enrolment)",
        f"  missed             {c[Verdict.MISSED]}",
        f"  blocking recall    {evaluation.blocking_recall:.4f}",
        f"  candidates/request {mean:.1f} mean, {p95} p95, {most} max",
        f"  decided in         {evaluation.seconds:.1f} s",
        "  false matches by tag:",
    ]
    by_tag = m.false_matches_by_tag
    lines += [f"    {tag:24} {n}" for tag, n in by_tag.items()] or ["    (none)"]
    return "\n".join(lines)


def _recommend(
    settings: Settings,
    evaluation: Evaluation,
    swept: Sweep,
    costs: Costs,
    capacity: Capacity | None,
    write_policy: Path | None,
) -> None:
    try:
        rec = recommend(swept, costs, capacity)
    except NoFeasiblePoint as exc:
        raise fail(str(exc), 1) from exc
    typer.echo(render_recommendation(rec, swept))
    label = candidate_label(evaluation.policy, rec.spec)
    text = candidate_policy_text(evaluation.policy, rec.spec, label)
    path = write_policy or settings.rules_dir / f"{label}.yaml"
    path.write_text(text, encoding="utf-8")
    typer.echo(f"candidate policy {label} written to {path}")


def render_recommendation(rec: Recommendation, swept: Sweep) -> str:
    s = rec.spec
    lines = [
        f"recommended: match_probability {s.match_probability!r}, review_probability "
        f"{s.review_probability!r}, margin {s.margin!r} ({rec.feasible_points} of "
        f"{len(swept.grid)} points within capacity)",
        f"  expected cost per request {rec.cost.estimate:.4f} "
        f"(95 % {rec.cost.low:.4f} to {rec.cost.high:.4f})",
        f"  precision {rec.precision:.4f}, recall {rec.recall:.4f}, review rate "
        f"{rec.review_rate:.4f}",
    ]
    if swept.current is not None:
        current = swept.current
        lines.append(
            f"  today's thresholds: precision {swept.precision[current]:.4f}, recall "
            f"{swept.recall[current]:.4f}, review rate {swept.review_rate[current]:.4f}"
        )
    if swept.enrolled == swept.requests:
        lines.append(
            "  note: every labelled request is enrolled, so no relative or stranger was asked "
            "for: false matches of people who are not members are not measured here"
        )
    per_day = rec.requests_per_day is not None
    lines.append(
        "  expected confusion matrix (share of requests"
        + (", and a day" if per_day else "")
        + ", 95 % interval):"
    )
    for verdict, share in rec.shares.items():
        row = f"    {verdict.value:18} {share.estimate:.4f} ({share.low:.4f} to {share.high:.4f})"
        day = rec.per_day(verdict)
        if day is not None:
            row += f"   {day.estimate:9.1f} a day ({day.low:.1f} to {day.high:.1f})"
        lines.append(row)
    return "\n".join(lines)
