"""What a dedupe run found, for the operator: counts, cluster sizes and pair weights, as text,
JSON or a small self-contained HTML page. Member ids only; no demographics."""

from __future__ import annotations

import html
import statistics
from collections import Counter
from typing import Any

import orjson

from identity.dedupe.service import DedupeRun

_WEIGHT_BINS = (0, 5, 10, 15, 20, 25, 30)


def summary(run: DedupeRun) -> dict[str, Any]:
    sizes = Counter(len(c.members) for c in run.clusters)
    weights = [p.weight for c in run.clusters for p in c.pairs]
    bins: Counter[str] = Counter()
    for w in weights:
        low = max((b for b in _WEIGHT_BINS if w >= b), default=None)
        bins["<0" if low is None else f">={low}"] += 1
    return {
        "tenant": run.tenant,
        "policy_version": run.policy_version,
        "threshold": run.threshold,
        "members": run.member_count,
        "prior": run.prior,
        "prior_estimated": run.prior_estimated,
        "blocking_keys": list(run.blocking_keys),
        "pairs_scored": run.pairs_scored,
        "pairs_excluded_by_rules": run.pairs_excluded,
        "pairs_in_clusters": len(weights),
        "clusters": len(run.clusters),
        "members_in_clusters": sum(len(c.members) for c in run.clusters),
        "new_review_items": len(run.item_ids),
        "already_offered": run.already_offered,
        "cluster_sizes": {str(k): sizes[k] for k in sorted(sizes)},
        "match_weight": {
            "min": round(min(weights), 3) if weights else None,
            "median": round(statistics.median(weights), 3) if weights else None,
            "max": round(max(weights), 3) if weights else None,
            "histogram": dict(sorted(bins.items())),
        },
        "timings_s": {k: round(v, 3) for k, v in run.timings.items()},
        "clusters_found": [
            {
                "members": list(c.members),
                "pairs": [
                    {
                        "a": p.a,
                        "b": p.b,
                        "probability": round(p.probability, 6),
                        "match_weight": round(p.weight, 3),
                    }
                    for p in c.pairs
                ],
            }
            for c in run.clusters
        ],
    }


def json_report(run: DedupeRun) -> bytes:
    return orjson.dumps(summary(run), option=orjson.OPT_INDENT_2)


def text_report(run: DedupeRun) -> str:
    s = summary(run)
    w = s["match_weight"]
    lines = [
        f"dedupe of {s['tenant']} under {s['policy_version']}",
        f"  members            {s['members']}",
        f"  blocking keys      {', '.join(s['blocking_keys'])}",
        f"  prior              {s['prior']:.3g} "
        f"({'estimated on the master' if s['prior_estimated'] else 'the policy'})",
        f"  pairs >= {s['threshold']:<9} {s['pairs_scored']} "
        f"({s['pairs_excluded_by_rules']} excluded by negative rules)",
        f"  clusters           {s['clusters']} ({s['members_in_clusters']} members)",
        "  cluster sizes      "
        + (", ".join(f"{k}: {v}" for k, v in s["cluster_sizes"].items()) or "-"),
        f"  match weight       min {w['min']}  median {w['median']}  max {w['max']}",
        "  weights            "
        + (", ".join(f"{k}: {v}" for k, v in w["histogram"].items()) or "-"),
        f"  review items       {s['new_review_items']} new, {s['already_offered']} already offered",
        "  timings            " + ", ".join(f"{k} {v:.1f}s" for k, v in s["timings_s"].items()),
    ]
    return "\n".join(lines) + "\n"


def html_report(run: DedupeRun) -> str:
    s = summary(run)
    rows = "".join(
        f"<tr><td>{html.escape(', '.join(c['members']))}</td><td>{len(c['members'])}</td>"
        f"<td>{max(p['match_weight'] for p in c['pairs']):.2f}</td></tr>"
        for c in s["clusters_found"]
    )
    return (
        "<!doctype html><meta charset=utf-8><title>identity dedupe</title>"
        f"<h1>Duplicate enrolments: {html.escape(s['tenant'])}</h1>"
        f"<pre>{html.escape(text_report(run))}</pre>"
        "<table><tr><th>members</th><th>size</th><th>best match weight</th></tr>"
        f"{rows}</table>"
    )
