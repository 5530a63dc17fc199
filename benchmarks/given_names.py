"""What widening given names costs the pure matcher: `Matcher.resolve` under the default policy
with and without its `given_name_equivalences` section, on the same queries and candidates.

    .venv/bin/python -m benchmarks.given_names [--queries 2000] [--candidates 12] [--seed 7]

Queries and candidates are synthetic: given names drawn from the 1990 census lists the module
ships (a third of the queries by a diminutive of the member's name), one family name, birth dates
near one another, so rules, levels and guards all run. Prints microseconds per resolve, best of
five rounds (process CPU time, the two
policies taking turns), and the machine block.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import yaml

from benchmarks.machine import machine_block
from identity.config import Settings
from identity.matching.engine import Candidate, Matcher
from identity.matching.given_names import census_shares, diminutives_of
from identity.matching.policy import Policy, find_policy, parse_policy
from identity.matching.record import RawAddress, RawDemographics, RawName, StandardRecord
from identity.matching.standardize import standardize


def _record(rng: random.Random, given: str, sex: str, born: str) -> StandardRecord:
    return standardize(
        RawDemographics(
            names=(RawName(given=(given,), family="Whitfield", use="official"),),
            birth_date=born,
            gender="female" if sex == "F" else "male",
            addresses=(RawAddress(lines=("9 Main Street",), postal_code="02143", use="home"),),
            subscriber_ids=(f"S{rng.randrange(10):02d}",),
        )
    )


def _cases(n: int, per: int, seed: int) -> list[tuple[StandardRecord, list[Candidate]]]:
    rng = random.Random(seed)
    names = {
        sex: sorted(n for n, s in census_shares().items() if s.get(sex, 0.0) >= 0.05)
        for sex in ("M", "F")
    }
    cases = []
    for _ in range(n):
        sex = rng.choice(("M", "F"))
        born = f"19{rng.randrange(40, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
        member_names = [rng.choice(names[sex]) for _ in range(per)]
        given = member_names[0]
        diminutives = sorted(diminutives_of(given, sex, ("derived", "listed")))
        if diminutives and rng.random() < 1 / 3:
            given = rng.choice(diminutives)
        query = _record(rng, given, sex, born)
        candidates = [
            Candidate(i, f"M{i}", _record(rng, name, sex, born))
            for i, name in enumerate(member_names)
        ]
        cases.append((query, candidates))
    return cases


def _without_section(policy: Policy) -> Policy:
    document: dict[str, Any] = yaml.safe_load(policy.source_text)
    document.pop("given_name_equivalences", None)
    return parse_policy(yaml.safe_dump(document, sort_keys=False))


def _round_us(matcher: Matcher, cases: list[tuple[StandardRecord, list[Candidate]]]) -> float:
    started = time.process_time()
    for query, candidates in cases:
        matcher.resolve(query, candidates)
    return (time.process_time() - started) / len(cases) * 1e6


def _best_us(
    matchers: tuple[Matcher, Matcher], cases: list[tuple[StandardRecord, list[Candidate]]]
) -> tuple[float, float]:
    """Best of five rounds each, the two matchers taking turns (a busy machine slows both)."""
    rounds = [(_round_us(matchers[0], cases), _round_us(matchers[1], cases)) for _ in range(5)]
    return min(r[0] for r in rounds), min(r[1] for r in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    policy = find_policy(Settings().rules_dir, "default")
    cases = _cases(args.queries, args.candidates, args.seed)
    with_section, without = Matcher(policy), Matcher(_without_section(policy))
    _best_us((with_section, without), cases[:100])  # warm the name tables and caches
    after, before = _best_us((with_section, without), cases)
    print(f"| resolve, {args.candidates} candidates | µs per request |")
    print("| --- | ---: |")
    print(f"| without `given_name_equivalences` | {before:,.0f} |")
    print(f"| with it (listed + derived diminutives) | {after:,.0f} |")
    print(f"| difference | {after - before:+,.0f} ({(after / before - 1) * 100:+.1f}%) |")
    print()
    print(machine_block())


if __name__ == "__main__":
    main()
