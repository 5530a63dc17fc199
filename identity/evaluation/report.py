"""One offline HTML report of an evaluation, its sweep and a shadow run: one file, styles and
charts inline (SVG drawn by `report_svg`), no script, no network, so it opens anywhere and can be
attached to a change request.

Sections appear for what was given: the figures; precision, recall and review rate against the
match threshold with the policy's point; the weights of true and false pairs; m, u and the
weight of every comparison level; the false matches and misses with their evidence and
waterfall; blocking recall and candidates per request; the shadow run's flips.

The false matches and misses show the standardised values compared (that is their evidence):
the report holds the labelled requests' demographics and is kept where they are kept.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

import numpy as np

from identity.evaluation.metrics import Verdict
from identity.evaluation.report_svg import (
    BLUE,
    GREEN,
    ORANGE,
    RED,
    Series,
    histogram,
    line_chart,
    probability_bars,
    scatter,
    waterfall,
    weight_bars,
)
from identity.evaluation.run import Evaluation, QueryResult
from identity.evaluation.shadow import ShadowReport
from identity.evaluation.sweep import Sweep
from identity.matching.engine import CandidateVerdict
from identity.matching.policy import Policy

LISTED = 25  # false matches and misses shown in full, each
FLIPS_LISTED = 200

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1d;
background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#555;margin:0 0 16px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px}
.figure{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:10px}
.figure b{display:block;font-size:20px}.figure span{color:#555;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{display:inline-block;vertical-align:top;margin:0 12px 12px 0;background:#fff;
border:1px solid #e2e2e2;border-radius:6px;padding:8px;max-width:100%;overflow-x:auto}
figcaption{font-size:12px;color:#555;max-width:640px}
table{border-collapse:collapse;background:#fff;margin:6px 0}
th,td{border:1px solid #e2e2e2;padding:3px 8px;text-align:left;font-size:13px;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}
details{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:6px 10px;margin:8px 0}
summary{cursor:pointer;font-weight:600}
.axis{stroke:#444;stroke-width:1}.grid{stroke:#e6e6e6;stroke-width:1}
.marker{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 3}
.tick{font-size:11px;fill:#333}.label{font-size:12px;fill:#222}
.note{color:#555}
"""


def _pct(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.4f}"


def _table(
    head: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Collection[int] = ()
) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=n' if i in numeric else ''}>{_cell(v)}</td>" for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


class _Raw(str):
    """Markup already escaped (a link)."""


def _cell(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape("–" if value is None else str(value))


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _figures(items: Sequence[tuple[str, str, str]]) -> str:
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure"><span>{escape(name)}</span><b>{escape(value)}</b>'
            f"<span>{escape(note)}</span></div>"
            for name, value, note in items
        )
        + "</div>"
    )


# --- the sections -------------------------------------------------------------------------------


def _summary(evaluation: Evaluation) -> str:
    m = evaluation.metrics
    mean, p95, most = evaluation.candidates_per_query
    c = m.counts
    return (
        "<h2>Figures</h2>"
        + _figures(
            [
                ("precision", _pct(m.precision), f"{c[Verdict.TRUE_MATCH]} right of {m.matches}"),
                ("recall", _pct(m.recall), f"of {m.enrolled} enrolled"),
                ("review rate", _pct(m.review_rate), f"{m.reviews} of {m.requests} requests"),
                ("false matches", str(c[Verdict.FALSE_MATCH]), "to anyone but the person"),
                ("missed", str(c[Verdict.MISSED]), "enrolled, not matched"),
                ("blocking recall", _pct(evaluation.blocking_recall), "person among candidates"),
                ("candidates / request", f"{mean:.1f}", f"p95 {p95}, max {most}"),
            ]
        )
        + _by_tag(evaluation)
    )


def _by_tag(evaluation: Evaluation) -> str:
    by_tag = evaluation.metrics.false_matches_by_tag
    if not by_tag:
        return '<p class="note">No false match.</p>'
    return "<h3>False matches by tag</h3>" + _table(
        ["tag", "false matches"], sorted(by_tag.items(), key=lambda i: -i[1]), {1}
    )


def _nines(threshold: float) -> float:
    """A probability threshold as its count of nines (0.9 -> 1, 0.999 -> 3): the scale on
    which match thresholds differ."""
    return -math.log10(max(1.0 - threshold, 1e-12))


def _curves(swept: Sweep, policy: Policy) -> str:
    spec = policy.document.decision
    grid = swept.grid
    same = np.isclose(grid.review_probability, spec.review_probability) & np.isclose(
        grid.margin, spec.margin
    )
    along = np.flatnonzero(same)
    along = along[np.argsort(grid.match_probability[along])]
    parts = ["<h2>Thresholds</h2>"]
    if len(along) >= 2:
        xs = [_nines(float(t)) for t in grid.match_probability[along]]
        series = [
            Series("precision", BLUE, xs, [float(v) for v in swept.precision[along]]),
            Series("recall", GREEN, xs, [float(v) for v in swept.recall[along]]),
            Series("review rate", ORANGE, xs, [float(v) for v in swept.review_rate[along]]),
        ]
        nines = range(math.ceil(min(xs)), math.floor(max(xs)) + 1)
        shown = [(float(n), f"{1 - 10.0**-n:.{n}f}") for n in nines]
        parts.append(
            _figure(
                line_chart(
                    "Precision, recall and review rate by match threshold",
                    series,
                    x_label="match threshold (evenly spaced in nines)",
                    y_label="share",
                    marker=_nines(spec.match_probability),
                    marker_text=f"policy {spec.match_probability:g}",
                    x_ticks=shown,
                ),
                f"At the policy's review threshold {spec.review_probability:g} and margin "
                f"{spec.margin:g}, under the real decision (rules, guards, margin, review band); "
                "the dashed line is the policy's match threshold.",
            )
        )
    chosen = None
    if swept.current is not None:
        i = swept.current
        chosen = (float(swept.review_rate[i]), float(swept.precision[i]))
    parts.append(
        _figure(
            scatter(
                "Precision against review rate at every grid point",
                [
                    (float(r), float(p))
                    for r, p in zip(swept.review_rate, swept.precision, strict=True)
                ],
                x_label="review rate",
                y_label="precision",
                chosen=chosen,
                chosen_text="policy",
                # Precision is at most 1; a set with no false match anywhere still gets a scale.
                y_range=(min(float(swept.precision.min()), 0.99), 1.0),
            ),
            f"{len(grid)} points of match threshold × review threshold × margin; the policy's "
            "own point ringed.",
        )
    )
    return "".join(parts)


def _scored(result: QueryResult) -> list[tuple[CandidateVerdict, bool]]:
    if result.resolution is None:
        return []
    return [
        (v, v.candidate.member_id in result.truth)
        for v in result.resolution.verdicts
        if v.score is not None
    ]


def _weights(evaluation: Evaluation) -> str:
    true: list[float] = []
    false: list[float] = []
    for result in evaluation.decided:
        for verdict, same in _scored(result):
            assert verdict.score is not None
            (true if same else false).append(verdict.score.match_weight)
    if not true and not false:
        return ""
    return "<h2>Weights of true and false pairs</h2>" + _figure(
        histogram(
            "Match weight of every scored request–candidate pair",
            [("same person", BLUE, true), ("another person", RED, false)],
            x_label="match weight (log2 Bayes factor, prior included)",
        ),
        f"{len(true)} pairs of the same person, {len(false)} of another; the further apart, the "
        "better the weights separate them.",
    )


def _model(policy: Policy) -> str:
    model = policy.document.model
    if model is None:
        return ""
    rows, bars = [], []
    for spec in policy.document.comparisons:
        for level in spec.levels:
            p = model.parameters[spec.name][level.label]
            weight = math.log2(p.m / p.u)
            rows.append((spec.name, level.label, p.m, p.u, round(weight, 2)))
            bars.append((f"{spec.name}: {level.label}", weight))
    return (
        "<h2>Model: m, u and match weights per comparison level</h2>"
        + _figure(
            weight_bars("Match weight of each comparison level", bars, x_label="weight (log2 m/u)"),
            f"Prior {model.prior:.3g} (weight {math.log2(model.prior / (1 - model.prior)):+.2f}). "
            "A missing value on either side is the null level, weight 0.",
        )
        + _figure(
            probability_bars(
                "m and u of each comparison level",
                [(f"{name}: {level}", m, u) for name, level, m, u, _ in rows],
            ),
            "m: how often the same person's two records reach the level; u: how often two "
            "different people's do. The weight is log2(m/u).",
        )
        + "<details><summary>m and u of every level</summary>"
        + _table(["comparison", "level", "m", "u", "weight"], rows, frozenset({2, 3, 4}))
        + "</details>"
    )


def _evidence(verdict: CandidateVerdict, heading: str) -> str:
    score = verdict.score
    fired = ", ".join(r.name for r in verdict.rules if r.fired) or "none"
    guards = ", ".join(f"{g.guard}: {'held' if g.held else 'did not hold'}" for g in verdict.guards)
    text = (
        f"<h3>{escape(heading)}: {escape(verdict.candidate.member_id)} "
        f"({escape(verdict.status.value)})</h3><p>rules fired: {escape(fired)}"
        + (f"; guards: {escape(guards)}" if guards else "")
        + "</p>"
    )
    if score is None:
        return text + '<p class="note">not scored</p>'
    steps = [("prior", score.prior_weight)] + [(f.comparison, f.weight) for f in score.fields]
    text += _figure(
        waterfall(
            f"Waterfall of {verdict.candidate.member_id}",
            steps,
            total_text="total",
        ),
        f"match weight {score.match_weight:+.2f}, probability {score.probability:.6f}",
    )
    rows = [
        (f.comparison, f.label, _value(f.left), _value(f.right), round(f.weight, 2))
        for f in score.fields
    ]
    return text + _table(
        ["comparison", "level", "request", "member", "weight"], rows, frozenset({4})
    )


def _value(value: Any) -> str:
    if isinstance(value, dict):
        shown = ((k, _value(v)) for k, v in value.items())
        return "; ".join(f"{k} {v}" for k, v in shown if v)
    if isinstance(value, list | tuple | frozenset | set):
        return " ".join(str(v) for v in sorted(value, key=str))
    return "" if value is None else str(value)


def _case(result: QueryResult, *, first: bool = False) -> str:
    assert result.resolution is not None
    d = result.resolution.decision
    chosen = result.resolution.member
    head = (
        f"<summary>{escape(result.request_id)}: {escape(d.outcome.value)} "
        f"({escape(d.reason.value)})"
        f" — truth {escape(' '.join(sorted(result.truth)) or 'not enrolled')}"
        + (f", tags {escape(', '.join(result.tags))}" if result.tags else "")
        + "</summary>"
    )
    candidates = _table(
        ["member", "status", "probability", "rules fired"],
        [
            (
                v.candidate.member_id,
                v.status.value,
                v.probability,
                ", ".join(r.name for r in v.rules if r.fired),
            )
            for v in result.resolution.verdicts
        ],
        {2},
    )
    shown = []
    for v in result.resolution.verdicts:
        if chosen is not None and v.candidate.member_id == chosen.member_id:
            shown.append(_evidence(v, "chosen"))
        elif v.candidate.member_id in result.truth:
            shown.append(_evidence(v, "the person"))
    if not result.truth_found and result.truth:
        shown.append('<p class="note">The person is not among the candidates (blocking).</p>')
    opened = " open" if first else ""
    return f"<details{opened}>{head}{candidates}{''.join(shown)}</details>"


def _errors(evaluation: Evaluation) -> str:
    parts = []
    for verdict, title in (
        (Verdict.FALSE_MATCH, "False matches"),
        (Verdict.MISSED, "Misses"),
    ):
        found = [r for r in evaluation.decided if r.verdict is verdict]
        parts.append(f"<h2>{title} ({len(found)})</h2>")
        if not found:
            parts.append('<p class="note">None.</p>')
            continue
        if len(found) > LISTED:
            parts.append(f'<p class="note">The first {LISTED} of {len(found)}.</p>')
        parts += [_case(r, first=i == 0) for i, r in enumerate(found[:LISTED])]
    return "".join(parts)


def _blocking(evaluation: Evaluation) -> str:
    counts = [float(len(r.candidates)) for r in evaluation.decided]
    if not counts:
        return ""
    mean, p95, most = evaluation.candidates_per_query
    enrolled = [r for r in evaluation.decided if r.truth]
    lost = sum(not r.truth_found for r in enrolled)
    return (
        "<h2>Blocking</h2>"
        + _figures(
            [
                ("blocking recall", _pct(evaluation.blocking_recall), f"{lost} enrolled not found"),
                ("candidates / request", f"{mean:.1f}", f"p95 {p95}, max {most}"),
            ]
        )
        + _figure(
            histogram(
                "Candidates per request",
                [("requests", BLUE, counts)],
                x_label="candidates found by the blocking keys",
                bins=int(max(counts)) + 1,
                y_label="requests",
                x_range=(0.0, max(counts) + 1),
                x_ticks=[(n + 0.5, str(n)) for n in range(int(max(counts)) + 1)],
            ),
            "How many members each request was compared with.",
        )
    )


def _shadow(report: ShadowReport, base_url: str) -> str:
    when = f" since {report.since:%Y-%m-%d}" if report.since else ""
    outcomes = ("match", "review", "no_match")
    text = (
        "<h2>Shadow run</h2>"
        f"<p>{report.decisions:,} stored decisions of {escape(report.tenant)}{when} re-decided "
        f"under {escape(report.candidate_version)} against {escape(report.baseline_version)}: "
        f"{len(report.flips):,} flip(s)"
        + (f"; {report.purged:,} purged, skipped" if report.purged else "")
        + ".</p>"
        + _table(
            ["", *outcomes],
            [
                ("before", *(report.outcomes_before.get(o, 0) for o in outcomes)),
                ("after", *(report.outcomes_after.get(o, 0) for o in outcomes)),
            ],
            {1, 2, 3},
        )
    )
    if not report.flips:
        return text
    kinds = Counter(f.kind for f in report.flips)
    text += _figure(
        weight_bars(
            "Flips by kind", [(k, float(n)) for k, n in kinds.most_common()], x_label="decisions"
        ),
        "What the candidate policy would answer differently.",
    )
    text += "<h3>By kind and the candidate's reason</h3>" + _table(
        ["flip", "reason", "decisions"], report.by_kind(), {2}
    )
    rows = [
        (
            f.kind,
            f"{f.before.reason} / {f.before.member_id or '–'}",
            f"{f.after.reason} / {f.after.member_id or '–'}",
            _Raw(f'<a href="{escape(f.link(base_url))}">{escape(f.link())}</a>'),
        )
        for f in report.flips[:FLIPS_LISTED]
    ]
    more = len(report.flips) - FLIPS_LISTED
    return (
        text
        + "<h3>Flipped decisions</h3>"
        + _table(["flip", "before", "after", "decision"], rows)
        + (f'<p class="note">… and {more} more.</p>' if more > 0 else "")
    )


# --- the page -----------------------------------------------------------------------------------


def analysis_report(
    *,
    evaluation: Evaluation | None = None,
    swept: Sweep | None = None,
    shadow: ShadowReport | None = None,
    base_url: str = "",
    now: datetime | None = None,
) -> str:
    """The whole report as one HTML document."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    if evaluation is not None:
        title = f"{evaluation.dataset} under {evaluation.policy.version}"
        meta = f"tenant {evaluation.tenant} · {len(evaluation.results):,} labelled requests"
    elif shadow is not None:
        title = f"Shadow of {shadow.candidate_version}"
        meta = f"tenant {shadow.tenant} · against {shadow.baseline_version}"
    else:
        raise ValueError("nothing to report")
    body = []
    if evaluation is not None:
        body.append(_summary(evaluation))
        if swept is not None:
            body.append(_curves(swept, evaluation.policy))
        body += [_weights(evaluation), _model(evaluation.policy), _errors(evaluation)]
        body.append(_blocking(evaluation))
    if shadow is not None:
        body.append(_shadow(shadow, base_url))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        f'<h1>{escape(title)}</h1><p class="meta">{escape(meta)} · written {stamp} by '
        "identity</p>" + "".join(body) + "</main></body></html>"
    )


def shadow_report_html(report: ShadowReport, *, base_url: str = "") -> str:
    """`identity shadow --report`: the shadow section alone."""
    return analysis_report(shadow=report, base_url=base_url)
