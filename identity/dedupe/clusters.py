"""Pairs to clusters, pure: the matching engine's verdict on each pair, then connected
components of what is left.

A pair the policy's negative rules exclude (twins with different given names, a Jr and a Sr, a
different SSN) is not offered as a duplicate however alike the two records score: the engine
judges it exactly as it would judge one of the two records arriving as a request for the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from identity.dedupe.pairs import ScoredPair
from identity.matching.decision import Status
from identity.matching.engine import Candidate, Matcher
from identity.matching.record import StandardRecord, record_as_dict


@dataclass(frozen=True, slots=True)
class Cluster:
    members: tuple[str, ...]  # sorted member ids, at least two
    pairs: tuple[ScoredPair, ...]  # the kept pairs inside it, strongest first

    @property
    def key(self) -> str:
        return cluster_key(self.members)

    @property
    def best(self) -> float:
        return max(p.probability for p in self.pairs)


def cluster_key(members: Iterable[str]) -> str:
    """sha256 of the sorted member ids: the same members give the same cluster on a rerun."""
    return hashlib.sha256("\0".join(sorted(members)).encode()).hexdigest()


def excluded(matcher: Matcher, a: StandardRecord, b: StandardRecord) -> bool:
    """The engine excludes the pair (a negative rule fired), either way round."""
    for query, member in ((a, b), (b, a)):
        resolution = matcher.resolve(query, [Candidate(0, member.member_id or "", member)])
        if resolution.verdicts[0].status is Status.EXCLUDED:
            return True
    return False


def cluster_evidence(
    matcher: Matcher, cluster: Cluster, records: Mapping[str, StandardRecord]
) -> dict[str, Any]:
    """The cluster as a decision's evidence, so stewards read it as any review: its first member
    in the request's place, every other member as a candidate with the engine's verdict on it
    (rules, field-by-field levels and weights). The retention purge redacts it as any other."""
    anchor, *others = cluster.members
    resolution = matcher.resolve(records[anchor], [Candidate(0, m, records[m]) for m in others])
    return {
        "anchor_member_id": anchor,
        "query": record_as_dict(records[anchor]),
        "candidates": [
            {**v.evidence(), "record": record_as_dict(v.candidate.record)}
            for v in resolution.verdicts
        ],
    }


def keep_pairs(
    matcher: Matcher,
    pairs: Iterable[ScoredPair],
    records: Mapping[str, StandardRecord],
    on_pair: Callable[[], object] = lambda: None,
) -> tuple[list[ScoredPair], int]:
    """The pairs no negative rule excludes, and how many were excluded."""
    kept, dropped = [], 0
    for pair in pairs:
        if excluded(matcher, records[pair.a], records[pair.b]):
            dropped += 1
        else:
            kept.append(pair)
        on_pair()
    return kept, dropped


def connected(pairs: Sequence[ScoredPair]) -> list[Cluster]:
    """Connected components (as splink's own clustering finds them), largest first."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        ra, rb = find(pair.a), find(pair.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for member in list(parent):
        groups.setdefault(find(member), []).append(member)
    inside: dict[str, list[ScoredPair]] = {}
    for pair in pairs:
        inside.setdefault(find(pair.a), []).append(pair)
    clusters = [
        Cluster(
            tuple(sorted(members)),
            tuple(sorted(inside[root], key=lambda p: (-p.probability, p.a, p.b))),
        )
        for root, members in groups.items()
    ]
    return sorted(clusters, key=lambda c: (-len(c.members), -c.best, c.members))
