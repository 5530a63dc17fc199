"""Where people live: states weighted by population, cities with ZIP codes and streets; phones.

Cities, their ZIP codes (Faker's `zipcode_in_state`) and their street names (Faker's
`street_name`) are drawn once per city and then reused, so neighbours share streets and a city
keeps its ZIP codes, as in real data. Phone numbers use real area codes of the member's state and
exchanges 200-999 (never 555 nor N11), so libphonenumber considers every one of them valid.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from identity.synthetic.model import Address
from identity.synthetic.names import Weighted

# state, population (millions, 2020 census), some of its area codes
STATES: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    (
        "CA",
        39.5,
        (
            209,
            213,
            310,
            323,
            408,
            415,
            510,
            530,
            559,
            562,
            619,
            626,
            650,
            661,
            707,
            714,
            760,
            805,
            818,
            831,
            858,
            909,
            916,
            925,
            949,
            951,
        ),
    ),
    (
        "TX",
        29.1,
        (
            210,
            214,
            254,
            281,
            361,
            409,
            432,
            512,
            713,
            806,
            817,
            830,
            832,
            903,
            915,
            936,
            940,
            956,
            972,
            979,
        ),
    ),
    ("FL", 21.5, (239, 305, 321, 352, 386, 407, 561, 727, 772, 813, 850, 863, 904, 941, 954)),
    ("NY", 20.2, (212, 315, 347, 516, 518, 585, 607, 631, 716, 718, 845, 914, 917)),
    ("PA", 13.0, (215, 267, 412, 484, 570, 610, 717, 724, 814)),
    ("IL", 12.8, (217, 309, 312, 618, 630, 708, 773, 815, 847)),
    ("OH", 11.8, (216, 330, 419, 440, 513, 614, 740, 937)),
    ("GA", 10.7, (229, 404, 478, 678, 706, 770, 912)),
    ("NC", 10.4, (252, 336, 704, 828, 910, 919, 980)),
    ("MI", 10.1, (231, 248, 269, 313, 517, 586, 616, 734, 810, 906, 989)),
    ("NJ", 9.3, (201, 609, 732, 856, 908, 973)),
    ("VA", 8.6, (276, 434, 540, 571, 703, 757, 804)),
    ("WA", 7.7, (206, 253, 360, 425, 509)),
    ("AZ", 7.2, (480, 520, 602, 623, 928)),
    ("MA", 7.0, (413, 508, 617, 781, 978)),
    ("TN", 6.9, (423, 615, 731, 865, 901, 931)),
    ("IN", 6.8, (219, 260, 317, 574, 765, 812)),
    ("MD", 6.2, (240, 301, 410, 443)),
    ("MO", 6.2, (314, 417, 573, 636, 660, 816)),
    ("WI", 5.9, (262, 414, 608, 715, 920)),
    ("CO", 5.8, (303, 719, 720, 970)),
    ("MN", 5.7, (218, 320, 507, 612, 651, 763, 952)),
    ("SC", 5.1, (803, 843, 864)),
    ("AL", 5.0, (205, 251, 256, 334)),
    ("LA", 4.7, (225, 318, 337, 504, 985)),
    ("KY", 4.5, (270, 502, 606, 859)),
    ("OR", 4.2, (503, 541, 971)),
    ("OK", 4.0, (405, 580, 918)),
    ("CT", 3.6, (203, 860)),
    ("UT", 3.3, (385, 435, 801)),
    ("IA", 3.2, (319, 515, 563, 641, 712)),
    ("NV", 3.1, (702, 775)),
    ("AR", 3.0, (479, 501, 870)),
    ("MS", 3.0, (228, 601, 662)),
    ("KS", 2.9, (316, 620, 785, 913)),
    ("NM", 2.1, (505, 575)),
    ("NE", 2.0, (308, 402)),
    ("ID", 1.8, (208,)),
    ("WV", 1.8, (304,)),
    ("HI", 1.5, (808,)),
    ("NH", 1.4, (603,)),
    ("ME", 1.4, (207,)),
    ("RI", 1.1, (401,)),
    ("MT", 1.1, (406,)),
    ("DE", 1.0, (302,)),
    ("SD", 0.9, (605,)),
    ("ND", 0.8, (701,)),
    ("AK", 0.7, (907,)),
    ("DC", 0.7, (202,)),
    ("VT", 0.6, (802,)),
    ("WY", 0.6, (307,)),
)

AREA_CODES: dict[str, tuple[int, ...]] = {s: codes for s, _, codes in STATES}

_CITIES_TOTAL = 600  # cities across the country, shared out by population
_STREETS_PER_CITY = 40
_UNIT_FORMATS = ("Apt {n}", "Apt {n}", "Apt {n}{l}", "Unit {n}", "# {n}", "Apt. {n}", "Ste {n}")


@dataclass(slots=True)
class City:
    name: str
    state: str
    zips: tuple[str, ...]
    streets: list[str] = field(default_factory=list)


class Places:
    """The country: states, their cities (with ZIPs and streets), built from one seeded Faker."""

    def __init__(self, fake: object) -> None:
        self._fake = fake
        total = sum(p for _, p, _ in STATES)
        self._states = Weighted((s, p) for s, p, _ in STATES)
        self.cities: dict[str, list[City]] = {}
        for state, population, _ in STATES:
            count = max(2, round(_CITIES_TOTAL * population / total))
            seen: set[str] = set()
            cities: list[City] = []
            for _ in range(count):
                name = str(fake.city())  # type: ignore[attr-defined]
                if name in seen:
                    continue
                seen.add(name)
                n_zips = 1 + int(fake.random_int(0, 3))  # type: ignore[attr-defined]
                zips = sorted({str(fake.zipcode_in_state(state)) for _ in range(n_zips)})  # type: ignore[attr-defined]
                cities.append(City(name, state, tuple(zips)))
            self.cities[state] = cities

    def state(self, rng: random.Random) -> str:
        return self._states.pick(rng)

    def city(self, rng: random.Random, state: str) -> City:
        # Zipf-ish: the first cities of a state are its big ones.
        cities = self.cities[state]
        i = min(int(len(cities) * rng.random() ** 2.2), len(cities) - 1)
        return cities[i]

    def _street(self, rng: random.Random, city: City) -> str:
        # A city's streets are drawn (from Faker) as it fills up, then reused by neighbours.
        known = len(city.streets)
        if known < _STREETS_PER_CITY and rng.random() * _STREETS_PER_CITY >= known:
            city.streets.append(str(self._fake.street_name()))  # type: ignore[attr-defined]
            return city.streets[-1]
        return city.streets[min(int(known * rng.random() ** 1.5), known - 1)]

    def address(
        self,
        rng: random.Random,
        *,
        state: str | None = None,
        city: City | None = None,
        unit_rate: float = 0.10,
    ) -> Address:
        if city is None:
            city = self.city(rng, state or self.state(rng))
        number = int(10 ** rng.uniform(0.3, 4.3))
        line1 = f"{number} {self._street(rng, city)}"
        line2 = None
        if rng.random() < unit_rate:
            fmt = _UNIT_FORMATS[rng.randrange(len(_UNIT_FORMATS))]
            line2 = fmt.format(
                n=rng.randint(1, 40 if "{l}" in fmt else 2400), l="ABCDEF"[rng.randrange(6)]
            )
        zip5 = city.zips[rng.randrange(len(city.zips))]
        return Address(line1, line2, city.name, city.state, zip5)

    def city_of(self, address: Address) -> City | None:
        for city in self.cities.get(address.state, ()):
            if city.name == address.city:
                return city
        return None


def phone(rng: random.Random, state: str) -> str:
    """An E.164 US number in the state: real area code, exchange 200-999 except 555 and N11."""
    codes = AREA_CODES[state]
    area = codes[rng.randrange(len(codes))]
    while True:
        exchange = rng.randint(200, 999)
        if exchange != 555 and exchange % 100 != 11:
            break
    return f"+1{area}{exchange}{rng.randrange(10_000):04d}"
