"""The `steward-decision` stage, pure: what stewards decided, handed in as data on the
candidates (identity/review/memory.py reads it), applied as the policy says.

- keep apart: this query (by its standardised fingerprint) is not that member: excluded;
- link: it is that member: certain, even against a negative rule (a person decided);
- same person: two member records of one person (a duplicate enrolment). When several
  candidates are certain and they are all records of one person, the answer is the surviving
  record instead of `multiple-certain`, the others listed in the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STAGE = "steward-decision"


@dataclass(frozen=True, slots=True)
class StewardMark:
    """A remembered decision about this query and this candidate."""

    kind: str  # keep_apart | link
    resolution_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"stage": STAGE, "kind": self.kind, "resolution_id": self.resolution_id}


@dataclass(frozen=True, slots=True)
class SurvivorMark:
    """This candidate is another record of the person whose surviving record is `member_id`
    (also among the candidates)."""

    member_id: str
    resolution_id: str


def survivor_of(
    chosen: Sequence[str], survivors: dict[str, SurvivorMark], candidates: set[str]
) -> tuple[str, list[str], list[str]] | None:
    """(surviving member id, the other records, the resolution ids) when every member in
    `chosen` is a record of one person whose surviving record is a candidate; None otherwise.
    A chain of pairs (A the same as B, B the same as C) is followed to its end."""
    roots: set[str] = set()
    resolutions: list[str] = []
    for member in chosen:
        seen = {member}
        while member in survivors:
            mark = survivors[member]
            resolutions.append(mark.resolution_id)
            member = mark.member_id
            if member in seen:  # a cycle: no single survivor
                return None
            seen.add(member)
        roots.add(member)
    if len(roots) != 1:
        return None
    root = roots.pop()
    if root not in candidates:
        return None
    others = sorted(m for m in chosen if m != root)
    return root, others, sorted(set(resolutions))
