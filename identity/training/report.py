"""The training report: plain text for the terminal, and one HTML page with splink's charts.

Counts and parameters only, never a member's data: the report is shared with people who must not
see PHI, and it is safe to paste into a ticket. (Term-frequency values are names; they are in the
policy file, not here.)
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from splink.internals.html_utils import load_chart_libraries

from identity.training.estimates import Estimates, LevelEstimate
from identity.training.service import TrainingRun


def _p(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4g}"


def _notes(lv: LevelEstimate) -> str:
    notes = []
    if not lv.m_trained:
        notes.append("m from policy (EM never observed)")
    if lv.clipped in ("min_weight", "max_weight"):
        notes.append(
            f"weight clipped to {lv.clipped} (EM: m {_p(lv.m_estimated)}, "
            f"weight {lv.weight_estimated:+.2f})"
        )
    elif lv.clipped:
        notes.append(f"m clipped to {lv.clipped} (EM: {_p(lv.m_estimated)})")
    if not lv.u_trained:
        notes.append("u from policy (never sampled)")
    return "; ".join(notes)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header).rstrip()]
    lines += [fmt.format(*r).rstrip() for r in rows]
    return ["  " + line for line in lines]


def _parameter_rows(estimates: Estimates) -> list[list[str]]:
    rows = []
    for lv in estimates.levels:
        weight = lv.match_weight
        rows.append(
            [
                lv.comparison,
                lv.level,
                _p(lv.m),
                _p(lv.u),
                "nan" if math.isnan(weight) else f"{weight:+.2f}",
                _notes(lv),
            ]
        )
    return rows


def against_match(estimates: Estimates) -> list[str]:
    """Agreement levels (not `else`) whose weight is below zero: agreement counts against.

    Not a refusal (a weak agreement like an initial can honestly be weaker evidence than random
    chance), but an analyst should look, and may bound m in m_bounds.
    """
    return [
        f"{lv.key} ({lv.match_weight:+.1f})"
        for lv in estimates.levels
        if lv.kind != "else" and not math.isnan(lv.match_weight) and lv.match_weight < 0
    ]


def _clip_note(lv: LevelEstimate) -> str:
    if lv.clipped in ("min_weight", "max_weight"):
        return f"{lv.key} {lv.clipped} ({lv.weight_estimated:+.2f} -> {lv.match_weight:+.2f})"
    return f"{lv.key} {lv.clipped}"


def _relatives_section(run: TrainingRun) -> list[str]:
    """Each relative profile's worst-case weight under the trained model, against review."""
    if not run.relatives:
        return []
    out = ["Relatives (worst case of each profile, on the weights alone; must stay below review)"]
    for score in run.relatives:
        verdict = "ok" if score.ok else "REACHES REVIEW"
        out.append(f"  {verdict:14} {score.describe()}")
    out.append("")
    return out


def text_report(run: TrainingRun) -> str:
    e = run.estimates
    out = [f"identity train: tenant {run.tenant}, policy {run.source.version}", ""]
    out.append("Data")
    skipped = f", {run.incoming.skipped:,} skipped" if run.incoming.skipped else ""
    out.append(f"  incoming   {len(run.incoming.records):,} ({run.incoming.source}{skipped})")
    out += [f"             {note}" for note in run.incoming.notes]
    out.append(f"  master     {run.master_count:,} members")
    out.append(f"  data fingerprint sha256:{run.fingerprint}")
    out.append("")
    one_in = f"1 in {1 / e.prior:,.0f}" if e.prior > 0 else "none"
    out.append(f"Prior  {_p(e.prior)} ({one_in} incoming-member pairs is the same person)")
    out.append(
        f"  deterministic rules {' | '.join(e.prior_rules)} link ~{e.deterministic_pairs:,} "
        f"pairs, assumed recall {e.recall:g}"
    )
    out.append(f"u  random sampling of up to {e.u_max_pairs:,} member pairs (seed {e.u_seed})")
    out.append("")
    out.append("EM (m; u fixed)")
    out += _table(
        ["blocking rule", "estimates", "pairs", "iterations", "converged"],
        [
            [
                r.blocking_rule,
                ", ".join(r.comparisons) or "-",
                f"{r.pairs:,}" + (f" (sampled ~{r.sampled_to:,})" if r.sampled_to else ""),
                str(r.iterations),
                "FAILED" if r.error else ("yes" if r.converged else "NO"),
            ]
            for r in e.em_runs
        ],
    )
    out.append("")
    out.append("Parameters (weight = log2(m/u))")
    out += _table(["comparison", "level", "m", "u", "weight", "notes"], _parameter_rows(e))
    out.append("")
    tf = ", ".join(f"{c} {n:,} values" for c, n in run.term_frequency_counts.items())
    out.append(f"Term frequencies (master, values seen twice or more): {tf or 'none'}")
    out.append("")
    out.append("Notes")
    notes = [
        ("u kept from the policy (random sampling never saw the level)", e.u_defaults),
        ("m kept from the policy (EM never observed the level)", e.m_not_observed),
        (
            "m clipped into the policy's m_bounds / weight_bounds",
            [_clip_note(lv) for lv in e.clipped],
        ),
        ("agreement levels weighing against a match (consider m_bounds)", against_match(e)),
    ]
    for title, items in notes:
        out.append(f"  {title}: {', '.join(items) if items else 'none'}")
    not_converged = [r.blocking_rule for r in e.em_runs if not r.converged and not r.error]
    if not_converged:
        out.append(f"  EM did not converge for: {', '.join(not_converged)}")
    out.append("")
    out += _relatives_section(run)
    if run.problems:
        out.append(f"REFUSED: {len(run.problems)} training check(s) failed; no policy written")
        out += [f"  - {p}" for p in run.problems]
    else:
        out.append(
            "Checks: passed (no collapse, exact agreement for / disagreement against a match, "
            "relatives below review)"
        )
    if run.written is not None:
        out.append(f"Written: {run.path} (version {run.written.version})")
    if run.timings:
        out.append("")
        out.append("Timings")
        out += [f"  {name:24} {seconds:8.1f} s" for name, seconds in run.timings.items()]
        out.append(f"  {'total':24} {sum(run.timings.values()):8.1f} s")
    return "\n".join(out) + "\n"


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return (
        json.dumps(value, default=float)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def html_report(run: TrainingRun) -> str:
    """One self-contained page (the chart libraries inlined, so it opens offline)."""
    libraries: dict[str, str] = load_chart_libraries()  # type: ignore[no-untyped-call]
    title = f"identity train: {run.label}" + (" (refused)" if run.problems else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}"
        "h2{margin-top:2em}</style>",
        *(f"<script>{src}</script>" for src in libraries.values()),
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if run.chart_note:
        parts.append(f"<p><em>{html.escape(run.chart_note)}</em></p>")
    for i, (name, spec) in enumerate(run.charts.items()):
        parts += [
            f"<h2>{html.escape(name)}</h2>",
            f'<div id="chart{i}"></div>',
            f"<script>vegaEmbed('#chart{i}', {_script_json(spec)}, {{}})"
            ".catch(function(e){document.getElementById"
            f"('chart{i}').textContent='chart error: '+e.message;}});</script>",
        ]
    parts += [
        "<h2>Report</h2>",
        f"<pre>{html.escape(text_report(run))}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)
