"""The brute-force guard of $member-match, its pure part: HRex says a server SHALL guard against
the same demographics being tried with varying card data. Per client and within a window, two
counts, each keyed on what an attacker varies:

- the cards (coverage ids) tried for near-same demographics: the family name's sound and the
  birth date (not the given name, whose first letter is free to change and decides little);
- the people (exact names and birth date) tried with one card: guessing a birth date or a name
  for a card one holds.

A request is admitted when its card was tried before with these demographics or fewer than
`member_match_max_cards` were, and its person was tried before with this card or fewer than
`member_match_max_people_per_card` were. An admitted request counts, whatever its answer; a
refused one does not (it learns nothing, and must not extend the lockout). The single request and
the batch both count through `admit`; the caller reads what was tried under a lock on the keys
(identity.keyed_lock), so concurrent requests are counted one after another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from identity.config import Settings
from identity.matching.record import StandardRecord


@dataclass(frozen=True, slots=True)
class GuardKeys:
    demographics: str  # near-same demographics: hash of the family name's sound and birth date
    card: str  # hash of the coverage ids offered
    person: str  # hash of the exact standardised names and birth date


def _digest(*parts: str | None) -> str:
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()


def demographics_key(query: StandardRecord) -> str:
    """Near-same demographics share this key. Without the given name: changing its first letter
    (or anything else about it) must not buy a fresh budget."""
    return _digest(query.family_phonetic, str(query.birth_date or ""))


def person_key(query: StandardRecord) -> str:
    return _digest(query.given, query.family, str(query.birth_date or ""))


def guard_keys(query: StandardRecord, card_key: str) -> GuardKeys:
    return GuardKeys(demographics_key(query), card_key, person_key(query))


def lock_names(tenant: str, client_id: str, keys: GuardKeys) -> tuple[str, str]:
    """What to lock before counting: the two counters this request reads and adds to."""
    return (
        f"guard-cards|{tenant}|{client_id}|{keys.demographics}",
        f"guard-people|{tenant}|{client_id}|{keys.card}",
    )


@dataclass(slots=True)
class Tried:
    """What one client tried within the window: cards per demographics key, people per card."""

    cards: dict[str, set[str]] = field(default_factory=dict)
    people: dict[str, set[str]] = field(default_factory=dict)


def admit(tried: Tried, keys: GuardKeys, settings: Settings) -> bool:
    """Whether this attempt may go on; an admitted one joins `tried`, so a later request (of the
    same batch) sees it."""
    cards = tried.cards.setdefault(keys.demographics, set())
    people = tried.people.setdefault(keys.card, set())
    if keys.card not in cards and len(cards) >= settings.member_match_max_cards:
        return False
    if keys.person not in people and len(people) >= settings.member_match_max_people_per_card:
        return False
    cards.add(keys.card)
    people.add(keys.person)
    return True
