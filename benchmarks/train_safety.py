"""Training safety: what `identity train` learns for the weights a relative can exploit, with and
without the policy's weight bounds, and what the trained policy then decides.

`python -m benchmarks.train_safety synthetic|febrl4 [--members N] [--unbounded] [--hostile]
[--no-relative-rules]` runs `benchmarks.accuracy` with `trained=True` and prints its report, then
the trained policy's bounded levels (EM's value and the written one) and the relatives check.

- `--unbounded`: the default policy without `weight_bounds` and `relative_profiles` (as before).
- `--hostile`: train on the relative queries (household, twin, Jr/Sr) and a third as many enrolled
  ones only; every query is still scored.
- `--no-relative-rules`: score with the trained policy minus `household-relative` and
  `relative-of-the-other-sex`: the weights alone against a relative the rules miss.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import yaml

import benchmarks.accuracy as acc
from identity.matching.policy import Policy, find_policy, parse_policy
from identity.training.data import Keyed
from identity.training.relatives import profile_score
from identity.training.train import TrainOptions

RELATIVES = {"household", "twin", "jr_sr"}
RELATIVE_RULES = {"household-relative", "relative-of-the-other-sex"}
SHOWN = (
    ("birth_date", "else"),
    ("given_name", "else"),
    ("household", "address"),
    ("household", "phone"),
    ("household", "subscriber_id"),
)


def _edited(policy: Policy, edit: Any) -> Policy:
    document = yaml.safe_load(policy.source_text)
    edit(document)
    return parse_policy(yaml.safe_dump(document, sort_keys=False), source=policy.label)


def _unbounded(document: dict[str, Any]) -> None:
    document["model"].pop("weight_bounds", None)
    document["model"].pop("relative_profiles", None)


def _no_relative_rules(document: dict[str, Any]) -> None:
    rules = document["rules"]["negative"]
    document["rules"]["negative"] = [r for r in rules if r["name"] not in RELATIVE_RULES]


def _hostile(incoming: list[Keyed], queries: Path) -> list[Keyed]:
    truth = {}
    with queries.open("rb") as fh:
        for line in fh:
            item = orjson.loads(line)
            truth[item["query_id"]] = item["truth"]
    relatives = [k for k in incoming if truth[k[0]].get("relationship") in RELATIVES]
    enrolled = [k for k in incoming if truth[k[0]].get("member_id")]
    print(f"hostile incoming: {len(relatives)} relatives + {len(relatives) // 3} enrolled")
    return relatives + enrolled[: len(relatives) // 3]


def weights(policy: Policy) -> list[str]:
    """The bounded levels' written weights, EM's where a bound moved them, and the profiles."""
    model = policy.document.model
    assert model is not None
    notes = (model.training or {}).get("notes", {}).get("m_clipped", [])
    clipped = {n.split(" ")[0]: float(n.split(" ")[2]) for n in notes}
    out = [f"prior {model.prior:.3g}"]
    for comparison, level in SHOWN:
        p = model.parameters[comparison][level]
        line = f"  {comparison}.{level}: written {math.log2(p.m / p.u):+.2f}"
        if (em := clipped.get(f"{comparison}.{level}")) is not None:
            line += f" (EM {math.log2(em / p.u):+.2f})"
        out.append(line)
    # The default policy's profiles, so an unbounded model is judged by the same measure.
    default = find_policy(acc.REPO / "matching_rules", "default").document.model
    assert default is not None
    out += [f"  {profile_score(policy.document, p).describe()}" for p in default.relative_profiles]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_safety", description=__doc__)
    parser.add_argument("dataset", choices=("synthetic", "febrl4"))
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=4_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--unbounded", action="store_true")
    parser.add_argument("--hostile", action="store_true")
    parser.add_argument("--no-relative-rules", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data_dir = acc.REPO / "var" / "bench" / f"acc-{args.members}-{args.seed}"
    trained: list[Policy] = []
    train = acc.trained_policy

    def source(rules_dir: Path, ref: str) -> Policy:
        policy = find_policy(rules_dir, ref)
        return _edited(policy, _unbounded) if args.unbounded else policy

    def trained_policy(
        master: Iterable[Keyed],
        count: int,
        incoming: list[Keyed],
        options: TrainOptions | None = None,
    ) -> Policy:
        if args.hostile:
            incoming = _hostile(incoming, data_dir / "queries.ndjson")
        policy = train(master, count, incoming, options)
        trained.append(policy)
        return _edited(policy, _no_relative_rules) if args.no_relative_rules else policy

    # accuracy.py's own training and policy lookup, swapped for this run (module globals).
    vars(acc).update(find_policy=source, trained_policy=trained_policy)
    if args.dataset == "febrl4":
        tally = acc.febrl4(trained=True)
    else:
        tally = acc.synthetic(args.members, args.queries, args.seed, data_dir, trained=True)
    how = [f for f in ("unbounded", "hostile", "no_relative_rules") if getattr(args, f)]
    print(acc.report(f"{args.dataset} trained ({', '.join(how) or 'bounded'})", tally))
    vars(acc).update(find_policy=find_policy)
    for policy in trained:
        print(policy.version)
        print("\n".join(weights(policy)))
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
