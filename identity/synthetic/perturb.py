"""Small, realistic damage to a person's data: typos, nicknames, birth-date slips, moves.

Every function takes the caller's `random.Random` and returns a new value (never mutates), or
None when the perturbation does not apply (e.g. no nickname known, a day above 12 for a swap).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

from identity.synthetic.model import AS_OF, Person, years_after, years_before
from identity.synthetic.names import nicknames_of

# QWERTY neighbours, for substitution typos.
_NEIGHBOURS: dict[str, str] = {
    "a": "qwsz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}

TYPO_KINDS = ("transposition", "deletion", "substitution")


def _match_case(new: str, old: str) -> str:
    return new.upper() if old.isupper() else new


def typo(text: str, rng: random.Random, kind: str | None = None) -> str | None:
    """One transposition, deletion or substitution inside the letters of `text`."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 3:
        return None
    kinds = [kind] if kind else list(TYPO_KINDS)
    rng.shuffle(kinds)
    for k in kinds:
        if k == "transposition":
            pairs = [
                i
                for i in letters[1:]  # keep the first letter
                if i + 1 < len(text)
                and text[i + 1].isalpha()
                and text[i].lower() != text[i + 1].lower()
            ]
            if not pairs:
                continue
            i = pairs[rng.randrange(len(pairs))]
            a, b = text[i], text[i + 1]
            return text[:i] + _match_case(b.lower(), a) + _match_case(a.lower(), b) + text[i + 2 :]
        if k == "deletion":
            i = letters[rng.randrange(1, len(letters))]  # keep the first letter
            return text[:i] + text[i + 1 :]
        if k == "substitution":
            i = letters[rng.randrange(1, len(letters))]
            options = _NEIGHBOURS.get(text[i].lower())
            if not options:
                continue
            return (
                text[:i]
                + _match_case(options[rng.randrange(len(options))], text[i])
                + text[i + 1 :]
            )
    return None


def nickname(given: str, rng: random.Random) -> str | None:
    found = nicknames_of(given)
    return found[rng.randrange(len(found))] if found else None


def day_month_swap(born: date) -> date | None:
    if born.day > 12 or born.day == born.month:
        return None
    swapped = date(born.year, born.day, born.month)
    return swapped if swapped <= AS_OF else None


def digit_off(born: date, rng: random.Random) -> date | None:
    """One digit of the month or day off by one (a keying slip), still a real past date."""
    text = born.isoformat()  # YYYY-MM-DD
    candidates: list[date] = []
    for pos in (5, 6, 8, 9):
        for delta in (-1, 1):
            digit = int(text[pos]) + delta
            if not 0 <= digit <= 9:
                continue
            new = text[:pos] + str(digit) + text[pos + 1 :]
            try:
                moved = date.fromisoformat(new)
            except ValueError:
                continue
            if moved != born and moved <= AS_OF:
                candidates.append(moved)
    return candidates[rng.randrange(len(candidates))] if candidates else None


def year_off(born: date, rng: random.Random) -> date:
    later = years_after(born, 1)
    return later if later <= AS_OF and rng.random() < 0.5 else years_before(born, 1)


def with_typo(person: Person, rng: random.Random, part: str) -> Person | None:
    if part == "given":
        new = typo(person.given, rng)
        return replace(person, given=new) if new else None
    new = typo(person.family, rng)
    return replace(person, family=new) if new else None


def with_nickname(person: Person, rng: random.Random) -> Person | None:
    new = nickname(person.given, rng)
    return replace(person, given=new) if new else None
