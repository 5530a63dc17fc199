"""Identifiers that are unique without remembering them: member ids, subscriber ids, SSNs.

Each kind is an affine permutation of a counter over the kind's whole value space, so the n-th
value never repeats an earlier one and nothing needs to be kept in memory for a million members.
The master, its duplicate enrolments and the query side (people who are not enrolled) use
separate counter regions, so their ids and SSNs never collide.
"""

from __future__ import annotations

import random
from math import gcd

# SSN value space: area 001-665 and 667-899, group 01-99, serial 0001-9999.
_SSN_AREAS = 898
_SSN_SPACE = _SSN_AREAS * 99 * 9999

# Counter regions (each far below every value space): the master's people, its duplicate
# enrolments, and the query side's people who are not enrolled never share a value.
MASTER_OFFSET = 0
DUPLICATE_OFFSET = 200_000_000
QUERY_SIDE_OFFSET = 400_000_000


def _coprime(start: int, n: int) -> int:
    a = start % n
    while gcd(a, n) != 1:
        a += 1
    return a


class Permutation:
    """counter -> (a * counter + b) mod n, a bijection on [0, n)."""

    __slots__ = ("_a", "_b", "_n", "next")

    def __init__(self, n: int, multiplier: int, rng: random.Random, start: int = 0) -> None:
        self._n = n
        self._a = _coprime(multiplier, n)
        self._b = rng.randrange(n)
        self.next = start

    def take(self) -> int:
        value = (self._a * self.next + self._b) % self._n
        self.next += 1
        return value


def ssn_from_index(index: int) -> str:
    area_i, rest = divmod(index, 99 * 9999)
    group_i, serial_i = divmod(rest, 9999)
    area = area_i + 1 if area_i < 665 else area_i + 2  # skip 666
    return f"{area:03d}{group_i + 1:02d}{serial_i + 1:04d}"


def valid_ssn(ssn: str) -> bool:
    """Nine digits in the issuable ranges: area not 000/666/9xx, group not 00, serial not 0000."""
    if len(ssn) != 9 or not ssn.isdigit():
        return False
    area, group, serial = int(ssn[:3]), int(ssn[3:5]), int(ssn[5:])
    return 1 <= area <= 899 and area != 666 and group != 0 and serial != 0


class IdAllocator:
    """Member ids ("M" + 9 digits), subscriber ids ("S" + 10 digits) and SSNs for one seed."""

    def __init__(self, seed: int, *, start: int = MASTER_OFFSET) -> None:
        rng = random.Random(f"identity-synthetic-ids:{seed}")
        self._members = Permutation(10**9, 738_916_483, rng, start)
        self._subscribers = Permutation(10**10, 6_180_339_887, rng, start)
        self._ssns = Permutation(_SSN_SPACE, 512_927_357, rng, start)

    def member_id(self) -> str:
        return f"M{self._members.take():09d}"

    def subscriber_id(self) -> str:
        return f"S{self._subscribers.take():010d}"

    def ssn(self) -> str:
        return ssn_from_index(self._ssns.take())
