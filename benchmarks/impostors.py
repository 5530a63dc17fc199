"""Card holders with the wrong names: what a card and a birth date alone get from the matcher.

For a sample of the synthetic benchmark's members, queries that carry the member's own member id
(the card's MB identifier) and birth date with names the member does not have, through the same
pipeline as `benchmarks.accuracy` (blocking in a SQLite index, rules, scores, decision, guards;
nothing written). Each probe counts how often the card's member is auto-matched:

- john-smith: given "John", family "Smith", the member's sex;
- garbage: a random 7-letter given and family name, the member's sex;
- initial-other-sex: the member's given initial, a random family name, the other sex, the ZIP;
- family-from-card: another given name with the member's own family name (what a card shows):
  the assurance floor lets this one through by design (a name supports it), the weights decide.

`python -m benchmarks.impostors [--members 20000] [--sample 2000] [--seed 7]`
"""

from __future__ import annotations

import random
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from benchmarks.accuracy import _fresh_sqlite
from identity.db import make_engine, make_session_factory, transaction
from identity.matching.blocking import blocking_keys
from identity.matching.engine import Matcher
from identity.matching.policy import find_policy
from identity.matching.record import RawAddress, RawDemographics, RawName, StandardRecord
from identity.matching.standardize import standardize
from identity.member.repository import find_candidates
from identity.member.service import load_members
from identity.training.data import master_records

REPO = Path(__file__).resolve().parent.parent
TENANT = "bench"

Probe = Callable[[StandardRecord, random.Random], RawDemographics]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(7))


def _raw(
    member: StandardRecord, given: str, family: str, *, other_sex: bool = False, zip_: bool = False
) -> RawDemographics:
    sex = {"M": "male", "F": "female"}.get(member.sex or "", "unknown")
    if other_sex:
        sex = {"male": "female", "female": "male"}.get(sex, sex)
    address = (RawAddress(postal_code=member.zip5, use="home"),) if zip_ and member.zip5 else ()
    return RawDemographics(
        names=(RawName(given=(given,), family=family, use="official"),),
        birth_date=member.birth_date.isoformat() if member.birth_date else None,
        gender=sex,
        addresses=address,
        member_id=member.member_id,
    )


PROBES: dict[str, Probe] = {
    "john-smith": lambda m, rng: _raw(m, "John", "Smith"),
    "garbage": lambda m, rng: _raw(m, _word(rng), _word(rng)),
    "initial-other-sex": lambda m, rng: _raw(
        m, (m.given or "X")[0], _word(rng), other_sex=True, zip_=True
    ),
    "family-from-card": lambda m, rng: _raw(m, "Zebulon", m.family or "Smith"),
}


def run(members: int, sample: int, seed: int) -> dict[str, Counter[str]]:
    from identity.synthetic import write_dataset

    data_dir = REPO / "var" / "bench" / f"acc-{members}-{seed}"
    paths = write_dataset(data_dir, members=members, queries=4_000, seed=seed, formats=("ndjson",))
    matcher = Matcher(find_policy(REPO / "matching_rules", "default"))
    blocking = matcher.policy.document.blocking
    rng = random.Random(seed)
    tallies: dict[str, Counter[str]] = {name: Counter() for name in PROBES}
    with tempfile.TemporaryDirectory() as tmp:
        settings = _fresh_sqlite(Path(tmp))
        factory = make_session_factory(make_engine(settings))
        with transaction(factory) as session:
            if not load_members(session, TENANT, [paths.members_ndjson]).ok:
                raise SystemExit("the synthetic members did not load")
        with factory() as session:
            carded = [r for _, r in master_records(session, TENANT) if r.member_id and r.birth_date]
            step = max(1, len(carded) // sample)
            for member in carded[::step][:sample]:
                for name, probe in PROBES.items():
                    query = standardize(probe(member, rng))
                    candidates = find_candidates(
                        session,
                        TENANT,
                        blocking_keys(query, blocking.keys),
                        max_block_size=blocking.max_block_size,
                        max_candidates=blocking.max_candidates,
                    )
                    resolution = matcher.resolve(query, candidates)
                    chosen = resolution.member
                    if chosen is not None and chosen.member_id == member.member_id:
                        tallies[name]["matched to the card's member"] += 1
                    elif chosen is not None:
                        tallies[name]["matched to someone else"] += 1
                    else:
                        tallies[name][resolution.decision.outcome.value] += 1
    return tallies


def main(argv: list[str] | None = None) -> None:
    import argparse

    from benchmarks.machine import machine_block

    parser = argparse.ArgumentParser(prog="python -m benchmarks.impostors", description=__doc__)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tallies = run(args.members, args.sample, args.seed)
    policy = find_policy(REPO / "matching_rules", "default")
    print(f"### Card holders with the wrong names ({args.sample} members, policy {policy.version})")
    print(
        "\n| probe | matched to the card's member | matched to someone else | review | no_match |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, t in tallies.items():
        cells = [
            t["matched to the card's member"],
            t["matched to someone else"],
            t["review"],
            t["no_match"],
        ]
        print(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")
    print(f"\n{time.perf_counter() - started:.0f} s\n")
    print(machine_block())


if __name__ == "__main__":
    main()
