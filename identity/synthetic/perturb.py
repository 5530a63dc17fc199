"""Small, realistic damage to a person's data: typos, nicknames, birth-date slips, moves.

Birth years are keyed like any number: one digit wrong (1972 as 1992) or two neighbouring digits
swapped (1985 as 1958); both are kept only when the result is still a plausible past birth date.

Every function takes the caller's `random.Random` and returns a new value (never mutates), or
None when the perturbation does not apply (e.g. no nickname known, a day above 12 for a swap).
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

from identity.synthetic.diminutives import diminutives_of, package_knows
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


# Digits a keying slip most often puts in place of another: neighbours on a numeric keypad
# (7 8 9 / 4 5 6 / 1 2 3 / 0) or in a keyboard's top row. Any other digit is possible, but rarer.
_DIGIT_NEIGHBOURS: dict[str, str] = {
    "0": "129",
    "1": "0247",
    "2": "13578",
    "3": "2469",
    "4": "15783",
    "5": "246",
    "6": "35974",
    "7": "4869",
    "8": "5792",
    "9": "68730",
}
OLDEST_PLAUSIBLE = date(1905, 1, 1)


def _plausible(text: str) -> date | None:
    try:
        moved = date.fromisoformat(text)
    except ValueError:  # 29 February of a year that has none
        return None
    return moved if OLDEST_PLAUSIBLE <= moved <= AS_OF else None


def year_digit_off(born: date, rng: random.Random) -> date | None:
    """One of the four year digits keyed as another digit (1972 as 1992, 1963 as 1943).

    A position is chosen first (every digit is as likely to be mistyped), among those where some
    wrong digit still gives a plausible past date, in practice the decade and the year; then the
    digit, keypad neighbours three times as likely as others."""
    text = born.isoformat()
    by_position: list[list[tuple[date, int]]] = []
    for pos in range(4):
        options: list[tuple[date, int]] = []
        for digit in "0123456789":
            if digit == text[pos]:
                continue
            moved = _plausible(text[:pos] + digit + text[pos + 1 :])
            if moved is not None:
                options.append((moved, 3 if digit in _DIGIT_NEIGHBOURS[text[pos]] else 1))
        if options:
            by_position.append(options)
    if not by_position:
        return None
    options = by_position[rng.randrange(len(by_position))]
    return rng.choices([d for d, _ in options], [w for _, w in options])[0]


def year_digits_swapped(born: date, rng: random.Random) -> date | None:
    """Two neighbouring year digits swapped (1985 as 1958), if that is a plausible past date."""
    text = born.isoformat()
    options = []
    for pos in range(3):
        if text[pos] == text[pos + 1]:
            continue
        moved = _plausible(text[:pos] + text[pos + 1] + text[pos] + text[pos + 2 :])
        if moved is not None:
            options.append(moved)
    return options[rng.randrange(len(options))] if options else None


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


def diminutive(given: str) -> tuple[str, ...]:
    """Short (or formal) forms of `given` from the generator's own table that the `nicknames`
    package does not relate to it: the names a matcher using only that package would miss."""
    return tuple(f for f in diminutives_of(given) if not package_knows(given, f))


def with_diminutive(person: Person, rng: random.Random) -> Person | None:
    found = diminutive(person.given)
    return replace(person, given=found[rng.randrange(len(found))]) if found else None
