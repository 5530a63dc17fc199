"""Realistically weighted given and family names for the synthetic population.

Given names come from Faker's en_US tables (weighted by US frequency, by sex); family names from
Faker's en_US census-weighted surnames, so SMITH, JOHNSON and GARCIA really are common. On top of
those: Hispanic surnames and given names (with and without their accents), compound Hispanic
surnames ("Garcia Lopez"), and apostrophe surnames ("O'Brien"). Sampling uses the caller's
`random.Random` only, never Faker's or the global generator, and never iterates a set.
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from functools import lru_cache
from itertools import accumulate

from faker.providers.person.en_US import Provider as _FakerPerson

from identity.synthetic.model import Sex


class Weighted:
    """A fixed weighted choice: O(log n) per draw with one `rng.random()`."""

    __slots__ = ("_cum", "_total", "values")

    def __init__(self, weights: Iterable[tuple[str, float]]) -> None:
        pairs = [(v, float(w)) for v, w in weights if w > 0]
        if not pairs:
            raise ValueError("no values to choose from")
        self.values: tuple[str, ...] = tuple(v for v, _ in pairs)
        self._cum: list[float] = list(accumulate(w for _, w in pairs))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> str:
        i = bisect_right(self._cum, rng.random() * self._total)
        return self.values[min(i, len(self.values) - 1)]


@lru_cache(maxsize=65536)
def fold_accents(text: str) -> str:
    """'Núñez' -> 'Nunez'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Faker spells these the way a mainframe would; show them as people write them.
_RESPELL: dict[str, str] = {
    "Obrien": "O'Brien",
    "Oconnor": "O'Connor",
    "Oneal": "O'Neal",
    "Oneil": "O'Neil",
    "Oneill": "O'Neill",
    "Odonnell": "O'Donnell",
    "Delacruz": "De La Cruz",
    "Mcdonald": "McDonald",
    "Mckinney": "McKinney",
    "Mccoy": "McCoy",
    "Mcdaniel": "McDaniel",
    "Mcgee": "McGee",
    "Mcbride": "McBride",
    "Mcclure": "McClure",
    "Mccarthy": "McCarthy",
    "Mcintosh": "McIntosh",
    "Mcmillan": "McMillan",
    "Mcknight": "McKnight",
    "Mcguire": "McGuire",
    "Mckenzie": "McKenzie",
    "Mcfarland": "McFarland",
    "Mccall": "McCall",
    "Mcconnell": "McConnell",
    "Mccormick": "McCormick",
    "Mcgrath": "McGrath",
    "Mclaughlin": "McLaughlin",
    "Mclean": "McLean",
    "Mcmahon": "McMahon",
    "Mcneil": "McNeil",
    "Mcpherson": "McPherson",
}

# Apostrophe surnames beyond Faker's table, with census-like weights (same scale as Faker's).
_APOSTROPHE_EXTRA: tuple[tuple[str, float], ...] = (
    ("O'Malley", 0.00012),
    ("O'Sullivan", 0.00014),
    ("O'Hara", 0.00012),
    ("O'Leary", 0.00009),
    ("O'Rourke", 0.00009),
    ("O'Keefe", 0.00008),
    ("D'Angelo", 0.00008),
    ("D'Amico", 0.00006),
    ("O'Shea", 0.00006),
    ("O'Dell", 0.00007),
)

# Hispanic surnames, weights ~ 2010 census counts (thousands), accented where the name has one.
_HISPANIC_FAMILY: tuple[tuple[str, float], ...] = (
    ("García", 1166),
    ("Rodríguez", 1095),
    ("Martínez", 1060),
    ("Hernández", 1043),
    ("López", 875),
    ("González", 841),
    ("Pérez", 681),
    ("Sánchez", 612),
    ("Ramírez", 557),
    ("Torres", 437),
    ("Flores", 437),
    ("Rivera", 420),
    ("Gómez", 399),
    ("Díaz", 387),
    ("Reyes", 344),
    ("Morales", 327),
    ("Cruz", 316),
    ("Ortiz", 294),
    ("Gutiérrez", 292),
    ("Chávez", 274),
    ("Ramos", 271),
    ("Ruiz", 253),
    ("Álvarez", 247),
    ("Mendoza", 242),
    ("Castillo", 231),
    ("Jiménez", 224),
    ("Vásquez", 221),
    ("Moreno", 217),
    ("Romero", 209),
    ("Herrera", 207),
    ("Medina", 193),
    ("Aguilar", 191),
    ("Vargas", 186),
    ("Guzmán", 172),
    ("Castro", 168),
    ("Contreras", 165),
    ("Soto", 163),
    ("Delgado", 162),
    ("Muñoz", 156),
    ("Estrada", 140),
    ("Salazar", 139),
    ("Sandoval", 133),
    ("Ríos", 130),
    ("Peña", 129),
    ("Núñez", 128),
    ("Acosta", 117),
    ("Domínguez", 112),
    ("Espinoza", 110),
    ("Rojas", 110),
    ("Castañeda", 80),
    ("De La Cruz", 70),
    ("Villarreal", 70),
    ("Ordóñez", 20),
    ("Ibáñez", 15),
)

_HISPANIC_MALE: tuple[tuple[str, float], ...] = (
    ("José", 30),
    ("Juan", 25),
    ("Luis", 20),
    ("Carlos", 20),
    ("Jesús", 12),
    ("Jorge", 12),
    ("Miguel", 14),
    ("Pedro", 8),
    ("Alejandro", 10),
    ("Andrés", 6),
    ("Ramón", 6),
    ("Raúl", 6),
    ("Rubén", 5),
    ("Héctor", 6),
    ("Óscar", 5),
    ("Julián", 4),
    ("Sebastián", 5),
    ("Martín", 5),
    ("Joaquín", 3),
    ("Fernando", 7),
    ("Francisco", 9),
    ("Manuel", 9),
    ("Javier", 8),
    ("Diego", 6),
    ("Santiago", 4),
    ("Mateo", 4),
)

_HISPANIC_FEMALE: tuple[tuple[str, float], ...] = (
    ("María", 35),
    ("Ana", 15),
    ("Sofía", 10),
    ("Lucía", 6),
    ("Valeria", 6),
    ("Camila", 7),
    ("Isabel", 6),
    ("Guadalupe", 8),
    ("Rosa", 8),
    ("Carmen", 8),
    ("Verónica", 6),
    ("Mónica", 6),
    ("Inés", 2),
    ("Leticia", 5),
    ("Beatriz", 3),
    ("Angélica", 4),
    ("Mariana", 5),
    ("Alejandra", 6),
    ("Gabriela", 6),
    ("Daniela", 7),
    ("Adriana", 5),
    ("Natalia", 5),
    ("Elena", 4),
    ("Juana", 4),
    ("Yolanda", 4),
)

_SURNAME_ACCENTS: dict[str, str] = {
    fold_accents(name): name for name, _ in _HISPANIC_FAMILY if fold_accents(name) != name
}


def _faker_family() -> list[tuple[str, float]]:
    out = [(_RESPELL.get(n, n), float(w)) for n, w in _FakerPerson.last_names.items()]
    return out + list(_APOSTROPHE_EXTRA)


def _weighted(table: Mapping[str, float]) -> Weighted:
    return Weighted((n, float(w)) for n, w in table.items())


class NameBook:
    """Every name sampler the generator needs, built once."""

    def __init__(self) -> None:
        self.male = _weighted(_FakerPerson.first_names_male)
        self.female = _weighted(_FakerPerson.first_names_female)
        self.hispanic_male = Weighted(_HISPANIC_MALE)
        self.hispanic_female = Weighted(_HISPANIC_FEMALE)
        self.family = Weighted(_faker_family())
        self.hispanic_family = Weighted(_HISPANIC_FAMILY)
        ranked = sorted(_faker_family(), key=lambda nw: -nw[1])
        self.common_families: frozenset[str] = frozenset(n for n, _ in ranked[:150]) | frozenset(
            fold_accents(n) for n, _ in _HISPANIC_FAMILY[:20]
        )

    def given(self, rng: random.Random, sex: Sex, *, hispanic: bool = False) -> str:
        if sex == "unknown":
            sex = "female" if rng.random() < 0.5 else "male"
        if hispanic and rng.random() < 0.55:
            table = self.hispanic_male if sex == "male" else self.hispanic_female
            name = table.pick(rng)
            return name if rng.random() < 0.5 else fold_accents(name)
        return (self.male if sex == "male" else self.female).pick(rng)

    def family_name(self, rng: random.Random, *, hispanic: bool, accents: bool) -> str:
        """A birth family name; Hispanic ones are sometimes compound ("Garcia Lopez")."""
        if not hispanic:
            name = self.family.pick(rng)
            if accents and name in _SURNAME_ACCENTS:
                return _SURNAME_ACCENTS[name]
            return name
        # Hispanic surnames are more varied than any short list: half come from the census table.
        first = self.hispanic_family.pick(rng) if rng.random() < 0.5 else self.family.pick(rng)
        if rng.random() < 0.15:
            second = self.hispanic_family.pick(rng)
            if second != first:
                first = f"{first} {second}"
        if accents:
            return " ".join(_SURNAME_ACCENTS.get(part, part) for part in first.split(" "))
        return fold_accents(first)


@lru_cache(maxsize=1)
def name_book() -> NameBook:
    return NameBook()


@lru_cache(maxsize=1)
def _nicknamer() -> object:
    from nicknames import NickNamer

    return NickNamer()


@lru_cache(maxsize=4096)
def nicknames_of(given: str) -> tuple[str, ...]:
    """Title-cased nicknames of a given name, sorted (the library returns a set)."""
    namer = _nicknamer()
    found = namer.nicknames_of(fold_accents(given).lower())  # type: ignore[attr-defined]
    plain = fold_accents(given).lower()
    return tuple(sorted(n.title() for n in found if len(n) > 1 and n.isalpha() and n != plain))


@lru_cache(maxsize=4096)
def formal_names_of(given: str) -> tuple[str, ...]:
    """Title-cased names the `nicknames` package says `given` is a nickname of (Beth: Elizabeth)."""
    plain = fold_accents(given).lower()
    found = _nicknamer().canonicals_of(plain)  # type: ignore[attr-defined]
    return tuple(sorted(n.title() for n in found if n.isalpha() and n != plain))
