"""`identity shadow`: re-decide stored decisions under another policy, write nothing, print what
flips; and the check `identity policy activate` runs before another policy goes live.

Registered in `identity.cli.main`. Both read in one transaction that is rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from identity.cli.common import audit_read, cli_actor, fail, open_sessions
from identity.config import Settings, load_settings
from identity.db import tenant_transaction
from identity.evaluation.metrics import Verdict
from identity.evaluation.shadow import DEFAULT_LIMIT, ShadowReport
from identity.evaluation.shadow_gate import ActivationCheck
from identity.matching.policy import Policy, PolicyError

SHOWN = 50  # flips listed one by one; the counts cover them all


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--since {value!r} is not a date (YYYY-MM-DD) or date-time", 2) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def shadow(
    policy: Annotated[
        str,
        typer.Option("--policy", help="Candidate policy: stored version, file, label or path."),
    ],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant (payer) id.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only decisions made on or after this date (YYYY-MM-DD).")
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(help="Baseline policy (default: the tenant's active policy)."),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="Newest stored decisions to re-decide.")
    ] = DEFAULT_LIMIT,
    report: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Also write the flips as an HTML report.")
    ] = None,
) -> None:
    """Re-decide stored decisions under POLICY (nothing written) and print what flips, by kind
    and reason, with a link to each decision."""
    from identity.evaluation.policies import resolve_policy
    from identity.evaluation.shadow import shadow as run_shadow
    from identity.policy.service import active_policy_version

    settings = load_settings()
    tenant = tenant or settings.default_tenant
    start = _since(since)
    factory = open_sessions(settings)
    with tenant_transaction(factory, tenant) as session:
        baseline_ref = against or active_policy_version(session, tenant)
        if baseline_ref is None:
            raise fail(f"no policy is active for {tenant}: pass --against")
        try:
            baseline = resolve_policy(session, settings.rules_dir, baseline_ref)
            candidate = resolve_policy(session, settings.rules_dir, policy)
        except PolicyError as exc:
            for problem in exc.problems:
                typer.secho(f"{exc.source}: {problem}", fg="red", err=True)
            raise fail("nothing shadowed") from exc
        result = run_shadow(session, tenant, baseline, candidate, since=start, limit=limit)
        session.rollback()
    # It read the tenant's stored requests and evidence: the run is audited, naming no one.
    version = candidate.version
    audit_read(factory, tenant, action="shadow.run", read="match_decision", policy_version=version)
    print_shadow(result, settings)
    if report is not None:
        from identity.evaluation.report import shadow_report_html

        report.write_text(shadow_report_html(result, base_url=settings.public_url), "utf-8")
        typer.echo(f"report: {report}")


def print_shadow(result: ShadowReport, settings: Settings, *, err: bool = False) -> None:
    def say(text: str = "") -> None:
        typer.echo(text, err=err)

    when = f" since {result.since:%Y-%m-%d}" if result.since else ""
    say(
        f"shadow of {result.candidate_version} against {result.baseline_version} "
        f"for {result.tenant}{when}: {result.decisions:,} stored decision(s) re-decided, "
        f"{len(result.flips):,} flip(s)"
        + (f" ({result.purged:,} purged, skipped)" if result.purged else "")
    )
    if not result.decisions:
        return
    outcomes = ("match", "review", "no_match")
    say(f"  {'':10} " + " ".join(f"{o:>9}" for o in outcomes))
    for name, counts in (("before", result.outcomes_before), ("after", result.outcomes_after)):
        say(f"  {name:10} " + " ".join(f"{counts.get(o, 0):>9,}" for o in outcomes))
    if not result.flips:
        return
    say("  flips by kind and the candidate's reason:")
    for kind, reason, count in result.by_kind():
        say(f"    {kind:22} {reason:24} {count:>7,}")
    say(
        f"  flipped decisions{' (newest ' + str(SHOWN) + ')' if len(result.flips) > SHOWN else ''}:"
    )
    for flip in result.flips[:SHOWN]:
        b, a = flip.before, flip.after
        say(
            f"    {flip.kind:22} {b.reason}/{b.member_id or '-'} → {a.reason}/{a.member_id or '-'}"
            f"  {flip.link(settings.public_url)}"
        )


def print_check(check: ActivationCheck, settings: Settings) -> None:
    """What the operator sees before an activation (on stderr: stdout says what happened)."""
    print_shadow(check.shadow, settings, err=True)
    if not check.labels:
        typer.echo(
            "  no labels (stewards' settlements, --requests/--truth): precision "
            "could not be measured",
            err=True,
        )
        return
    for c in check.labels:
        typer.echo(
            f"  on {c.active.metrics.requests:,} labelled request(s) ({c.source}):"
            f"{'precision':>12} {'recall':>8} {'review':>8} {'false':>6}",
            err=True,
        )
        for name, e in (("active", c.active), ("candidate", c.candidate)):
            m = e.metrics
            typer.echo(
                f"    {name:10} {e.policy.version:38}"
                f"{_pct(m.precision):>9} {_pct(m.recall):>8} {_pct(m.review_rate):>8} "
                f"{m.counts[Verdict.FALSE_MATCH]:>6}",
                err=True,
            )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def activate_checked(
    settings: Settings,
    tenant: str,
    policy: Policy,
    accept_risk: str | None,
    labelled: tuple[Path, Path] | None = None,
) -> bool:
    """`identity policy activate`: when another policy is active, show the candidate's shadow
    run and its precision on the stewards' labels beside the active one's first; refuse (exit
    1, nothing written) when precision drops, unless `accept_risk` gives a reason, which is
    audited with the figures. False when the policy was already active."""
    from identity.evaluation.shadow_gate import (
        check_activation,
        clean_reason,
        record_accepted_risk,
    )
    from identity.policy import service as policy_service

    queries = None
    if labelled is not None:
        from identity.evaluation.labels import LabelError, read_labelled

        requests, truth = labelled
        try:
            queries = (requests.name, read_labelled(requests, truth, datetime.now(UTC).date()))
        except LabelError as exc:
            for problem in exc.problems:
                typer.secho(problem, fg="red", err=True)
            raise fail("the labelled files are not valid; nothing was activated", 2) from exc
    reason = None
    if accept_risk is not None:
        try:
            reason = clean_reason(accept_risk)
        except ValueError as exc:
            raise fail(str(exc), 2) from exc
    factory = open_sessions(settings)
    check: ActivationCheck | None = None
    with tenant_transaction(factory, tenant) as session:
        active = policy_service.active_policy_version(session, tenant)
        if active is not None and active != policy.version:
            baseline = policy_service.stored_policy(session, active)
            check = check_activation(session, tenant, baseline, policy, labelled=queries)
        session.rollback()
    if check is not None:
        print_check(check, settings)
        if check.precision_drops and reason is None:
            raise fail(
                "precision on the labels drops: not activated "
                '(pass --accept-risk "why" to activate anyway; it is audited)'
            )
    with tenant_transaction(factory, tenant) as session:
        changed = policy_service.activate(session, tenant, policy)
        if changed and check is not None and check.precision_drops and reason is not None:
            record_accepted_risk(session, cli_actor(tenant), check, reason)
    return changed
