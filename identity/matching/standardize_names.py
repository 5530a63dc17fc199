"""Person names: cleaning, phonetic codes, nicknames, and picking apart FHIR HumanNames.

Every output is upper-case ASCII so that two sources that spell a name with or without accents,
punctuation or titles end up with the same string. `standardize.py` re-exports the public helpers.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import jellyfish
from nicknames import NickNamer

from identity.matching.record import RawName

# Letters that NFKD does not decompose into an ASCII base letter.
_SPECIAL_LETTERS = str.maketrans(
    {
        "ß": "SS",
        "ẞ": "SS",
        "Æ": "AE",
        "æ": "AE",
        "Ø": "O",
        "ø": "O",
        "Œ": "OE",
        "œ": "OE",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "Þ": "TH",
        "þ": "TH",
        "ı": "I",
    }
)

# Punctuation that separates words ("Smith,Jr", "Smith/Jones") becomes a space; any other
# non-name character (apostrophes, periods, emoji) is dropped ("O'Brien" -> "OBRIEN").
_NAME_SEPARATORS = re.compile(r"[\s,;:/\\_&+()\[\]{}|<>]+")
_NAME_DISALLOWED = re.compile(r"[^A-Z0-9 \-]+")
_HYPHEN_RUN = re.compile(r" ?-[- ]*")
_NOT_LETTERS = re.compile(r"[^A-Z]+")

# Inputs longer than this are never in the nickname table and are not worth caching.
_MAX_CACHED_LEN = 64

SUFFIXES: dict[str, str] = {
    "JR": "JR",
    "JUNIOR": "JR",
    "SR": "SR",
    "SENIOR": "SR",
    "II": "II",
    "2ND": "II",
    "III": "III",
    "3RD": "III",
    "IV": "IV",
    "V": "V",
}
_ALL_SUFFIXES = frozenset(SUFFIXES)
# A trailing "V" on a given name is far more often a middle initial than "the fifth".
_GIVEN_END_SUFFIXES = _ALL_SUFFIXES - {"V"}
TITLES = frozenset({"MR", "MRS", "MS", "MISS", "MX", "DR"})
# Family-name particles: part of the family name, but too common to match on alone.
PARTICLES = frozenset(
    {
        "AL",
        "BIN",
        "D",
        "DA",
        "DAS",
        "DE",
        "DEL",
        "DELA",
        "DELLA",
        "DEN",
        "DER",
        "DES",
        "DI",
        "DO",
        "DOS",
        "DU",
        "EL",
        "LA",
        "LE",
        "LOS",
        "MAC",
        "MC",
        "SAN",
        "SANTA",
        "ST",
        "TER",
        "VAN",
        "VON",
        "Y",
    }
)
_EARLIER_USES = ("old", "maiden")


def to_ascii_upper(s: str) -> str:
    """Upper-case ASCII with accents folded, so "Núñez" and "NUNEZ" compare equal."""
    if not s.isascii():
        folded = unicodedata.normalize("NFKD", s.translate(_SPECIAL_LETTERS))
        s = folded.encode("ascii", "ignore").decode("ascii")
    return s.upper()


def _clean(s: str) -> str | None:
    text = _NAME_SEPARATORS.sub(" ", to_ascii_upper(s))
    text = _NAME_DISALLOWED.sub("", text)
    text = _HYPHEN_RUN.sub("-", " ".join(text.split()))
    return text.strip(" -") or None


# Names repeat heavily across a member population, so short ones are cleaned once.
_clean_cached = functools.lru_cache(maxsize=200_000)(_clean)


def clean_name(s: str | None) -> str | None:
    """Canonical spelling of a name (ASCII, upper, no punctuation but hyphens) for comparison."""
    if not s:
        return None
    return _clean_cached(s) if len(s) <= _MAX_CACHED_LEN else _clean(s)


def _phonetic_of_clean(cleaned: str) -> str | None:
    letters = _NOT_LETTERS.sub("", cleaned)
    if not letters:
        return None
    return str(jellyfish.nysiis(letters)) or None


_phonetic_cached = functools.lru_cache(maxsize=200_000)(_phonetic_of_clean)


def phonetic(s: str | None) -> str | None:
    """NYSIIS code of the whole name, so spelling variants (Jonson/Johnson) block together."""
    cleaned = clean_name(s)
    if cleaned is None:
        return None
    if len(cleaned) > _MAX_CACHED_LEN:
        return _phonetic_of_clean(cleaned)
    return _phonetic_cached(cleaned)


@functools.cache
def _nicknamer() -> NickNamer:
    """The nickname table, loaded on first use rather than at import (it parses a CSV)."""
    return NickNamer()


@functools.lru_cache(maxsize=100_000)
def _canonicals(cleaned: str) -> frozenset[str]:
    forms = {cleaned}
    for canonical in _nicknamer().canonicals_of(cleaned):
        form = clean_name(canonical)
        if form:
            forms.add(form)
    return frozenset(forms)


def nickname_canonicals(given: str | None) -> frozenset[str]:
    """The name plus every name it is a nickname of, so Bill and William share WILLIAM."""
    cleaned = clean_name(given)
    if cleaned is None:
        return frozenset()
    if len(cleaned) > _MAX_CACHED_LEN:
        return frozenset({cleaned})
    return _canonicals(cleaned)


@dataclass(frozen=True, slots=True)
class NameFields:
    """The name-derived fields of a StandardRecord."""

    given: str | None
    middle: str | None
    family: str | None
    family_parts: tuple[str, ...]
    earlier_families: tuple[str, ...]
    suffix: str | None


def _use(name: RawName) -> str:
    return (name.use or "").strip().lower()


def primary_name_index(names: Sequence[RawName]) -> int | None:
    """Official, else usual, else the first current name, else the first: the name of record."""
    if not names:
        return None
    uses = [_use(n) for n in names]
    for wanted in ("official", "usual"):
        if wanted in uses:
            return uses.index(wanted)
    for i, use in enumerate(uses):
        if use not in _EARLIER_USES:
            return i
    return 0


def _words(s: str | None) -> list[str]:
    cleaned = clean_name(s)
    return cleaned.split() if cleaned else []


def _pop_suffixes(words: list[str], allowed: frozenset[str]) -> list[str]:
    """Remove trailing suffix words ("SMITH JR"), never the last remaining word; return them."""
    found: list[str] = []
    while len(words) > 1 and words[-1] in allowed:
        found.append(SUFFIXES[words.pop()])
    found.reverse()
    return found


def _family_words(family: str | None) -> tuple[list[str], list[str]]:
    """Family name words with hyphens as word breaks, and any suffixes split off its end."""
    cleaned = clean_name(family)
    if cleaned is None:
        return [], []
    words = cleaned.replace("-", " ").split()
    return words, _pop_suffixes(words, _ALL_SUFFIXES)


def _given_words(given: Iterable[str]) -> tuple[list[str], list[str]]:
    """All given-name words with leading titles dropped and trailing suffixes split off."""
    words = [w for g in given if g for w in _words(g)]
    start = 0
    while len(words) - start > 1 and words[start] in TITLES:
        start += 1
    words = words[start:]
    return words, _pop_suffixes(words, _GIVEN_END_SUFFIXES)


def _listed_suffixes(suffixes: Iterable[str]) -> list[str]:
    return [SUFFIXES[w] for s in suffixes if s for w in _words(s) if w in SUFFIXES]


def _family_parts(words: Sequence[str]) -> tuple[str, ...]:
    """Parts of a compound family name worth matching on alone (no particles, no initials)."""
    if len(words) < 2:
        return ()
    return tuple(w for w in words if len(w) >= 2 and w not in PARTICLES)


def _earlier_families(
    names: Sequence[RawName], primary: int, family: str | None
) -> tuple[str, ...]:
    """Family names of the non-primary names, old/maiden ones first, without repeats."""
    others = [n for i, n in enumerate(names) if i != primary]
    others.sort(key=lambda n: _use(n) not in _EARLIER_USES)  # stable: input order kept
    seen: list[str] = []
    for name in others:
        words, _ = _family_words(name.family)
        earlier = " ".join(words)
        if earlier and earlier != family and earlier not in seen:
            seen.append(earlier)
    return tuple(seen)


def standardize_names(names: Sequence[RawName]) -> NameFields:
    """Given, middle, family, suffix of the primary name plus the family names used before."""
    primary = primary_name_index(names)
    if primary is None:
        return NameFields(None, None, None, (), (), None)
    name = names[primary]
    family_words, family_suffixes = _family_words(name.family)
    given_words, given_suffixes = _given_words(name.given)
    suffixes = _listed_suffixes(name.suffix) + family_suffixes + given_suffixes
    family = " ".join(family_words) or None
    return NameFields(
        given=given_words[0] if given_words else None,
        middle=" ".join(given_words[1:]) or None,
        family=family,
        family_parts=_family_parts(family_words),
        earlier_families=_earlier_families(names, primary, family),
        suffix=suffixes[0] if suffixes else None,
    )
