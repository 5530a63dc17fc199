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
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
    """What one client tried within the window: the cards per demographics key and the people
    per card, each with the time it was last tried (UTC)."""

    cards: dict[str, dict[str, datetime]] = field(default_factory=dict)
    people: dict[str, dict[str, datetime]] = field(default_factory=dict)
    oldest: datetime | None = None  # the client's oldest stored attempt, of any age


def forget_due(tried: Tried, settings: Settings, now: datetime) -> bool:
    """Whether the attempts past the window are due to be forgotten: once the oldest is a tenth
    of the window past it. Forgotten in batches so, rather than one DELETE per request: at most
    one per client per tenth of a window, and no attempt is kept longer than 1.1 windows. The
    guard counts only attempts within the window, so what it decides does not depend on this."""
    window = timedelta(seconds=settings.member_match_window_s)
    return tried.oldest is not None and tried.oldest < now - window - window / 10


def admit(tried: Tried, keys: GuardKeys, settings: Settings, now: datetime) -> bool:
    """Whether this attempt may go on; an admitted one joins `tried`, so a later request (of the
    same batch) sees it."""
    if _blocking(tried, keys, settings):
        return False
    tried.cards.setdefault(keys.demographics, {})[keys.card] = now
    tried.people.setdefault(keys.card, {})[keys.person] = now
    return True


def retry_after_s(tried: Tried, keys: GuardKeys, settings: Settings, now: datetime) -> int:
    """For a refused attempt: seconds until the counters that refused it have room again (the
    oldest entries leave the window; refused attempts are never counted, so it does not move)."""
    window = timedelta(seconds=settings.member_match_window_s)
    wait = 1
    for seen, limit in _blocking(tried, keys, settings):
        oldest_first = sorted(seen.values())
        frees_at = oldest_first[len(seen) - limit] + window  # the one whose expiry makes room
        wait = max(wait, math.ceil((frees_at - now).total_seconds()))
    return min(wait, settings.member_match_window_s)


def _blocking(
    tried: Tried, keys: GuardKeys, settings: Settings
) -> list[tuple[dict[str, datetime], int]]:
    """The full counters this attempt would add to: (what they hold, their limit)."""
    full = []
    cards = tried.cards.get(keys.demographics, {})
    if keys.card not in cards and len(cards) >= settings.member_match_max_cards:
        full.append((cards, settings.member_match_max_cards))
    people = tried.people.get(keys.card, {})
    if keys.person not in people and len(people) >= settings.member_match_max_people_per_card:
        full.append((people, settings.member_match_max_people_per_card))
    return full
