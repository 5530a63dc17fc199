"""The pure half of dedupe: the engine's negative rules on each scored pair, and clustering."""

from __future__ import annotations

from identity.dedupe.clusters import cluster_key, connected, keep_pairs
from identity.dedupe.pairs import ScoredPair
from identity.matching.engine import Matcher
from identity.matching.policy import find_policy
from tests.conftest import RULES_DIR
from tests.factories import person


def _pair(a: str, b: str, p: float = 0.99) -> ScoredPair:
    return ScoredPair(a, b, p, 10.0)


def test_pairs_a_negative_rule_excludes_are_not_offered() -> None:
    matcher = Matcher(find_policy(RULES_DIR, "default"))
    records = {
        # One person enrolled twice: an exact copy under another member id.
        "A1": person("Maria", "Garcia", "1984-03-12", sex="female", member_id="A1"),
        "A2": person("Maria", "Garcia", "1984-03-12", sex="female", member_id="A2"),
        # Father and son at one address: the same name, Sr and Jr.
        "S1": person("Jordan", "Okafor", "1955-04-02", suffix="Sr", member_id="S1"),
        "S2": person("Jordan", "Okafor", "1980-04-02", suffix="Jr", member_id="S2"),
        # Twins: one birth date, family and home, different given names and SSNs.
        "T1": person("Amy", "Lee", "2001-05-05", sex="female", ssn="123-45-6789", member_id="T1"),
        "T2": person("Emma", "Lee", "2001-05-05", sex="female", ssn="987-65-4321", member_id="T2"),
    }
    kept, dropped = keep_pairs(
        matcher, [_pair("A1", "A2"), _pair("S1", "S2"), _pair("T1", "T2")], records
    )
    assert [(p.a, p.b) for p in kept] == [("A1", "A2")]
    assert dropped == 2


def test_clusters_are_connected_components_with_a_stable_key() -> None:
    clusters = connected([_pair("B", "C", 0.9), _pair("A", "B", 0.95), _pair("X", "Y", 0.8)])
    assert [c.members for c in clusters] == [("A", "B", "C"), ("X", "Y")]
    assert [(p.a, p.b) for p in clusters[0].pairs] == [("A", "B"), ("B", "C")]
    assert clusters[0].best == 0.95
    assert clusters[0].key == cluster_key(["C", "A", "B"]) != cluster_key(["A", "B"])
