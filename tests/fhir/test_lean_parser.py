"""The lean Patient and Coverage models (identity/fhir/lean.py) decide as fhir.resources decided.

fhir.resources' R4B models, the parser before (tests/fhir/fhir_resources_oracle.py), are the
oracle. Over a synthetic member master and query set, every Patient and Coverage is accepted by
both and reads the same (the demographics the matcher gets, the coverage facts the loader keeps).
Over a table of bad bodies — every element of a rich Patient and Coverage replaced in turn by
values of the wrong kind, an unknown member added to every object — both refuse the same bodies
at the same JSON pointers. The differences are deliberate and listed in `expected_difference`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from identity.errors import FieldError
from identity.fhir import demographics as lean
from identity.fhir.demographics import to_raw
from identity.member.sources import _coverage_facts
from identity.synthetic.dataset import write_dataset
from tests.fhir import fhir_resources_oracle as oracle

BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
UUID = "urn:uuid:6e8bc430-9c3a-4bc2-9b1e-1c6b1e0c7a55"
P = {"resourceType": "Patient"}
C = {"resourceType": "Coverage", "payor": [{}], "beneficiary": {}}
Parser = Callable[[Any, str], tuple[Any, list[FieldError]]]
PARSERS: dict[str, tuple[Parser, Parser]] = {
    "Patient": (oracle.parse_patient, lean.parse_patient),
    "Coverage": (oracle.parse_coverage, lean.parse_coverage),
}

RICH_PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p-1",
    "meta": {
        "versionId": "1",
        "lastUpdated": "2020-01-01T00:00:00Z",
        "source": "urn:x",
        "profile": ["http://example.org/profile"],
        "security": [{"code": "R"}],
        "tag": [{"code": "t"}],
    },
    "language": "en-US",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    "extension": [
        {"url": BIRTH_SEX, "valueCode": "F"},
        {"url": "http://example.org/a", "valueString": "s"},
        {"url": "http://example.org/b", "valueInteger": 3},
        {"url": "http://example.org/c", "valueDate": "2020-01"},
        {"url": "http://example.org/d", "valueDecimal": 1.5},
        {"url": "http://example.org/e", "valueUri": "urn:x"},
        {"url": "http://example.org/f", "valueTime": "10:00:00"},
        {"url": "http://example.org/g", "valueUuid": UUID},
        {"url": "http://example.org/h", "valueBase64Binary": "aGVsbG8="},
        {"url": "http://example.org/i", "valueQuantity": {"value": 1}},
        {"url": "http://example.org/j", "extension": [{"url": "k", "valueBoolean": False}]},
        {"url": "http://example.org/m", "valueInstant": "2020-01-01T00:00:00Z"},
        {"url": "http://example.org/n", "valueOid": "urn:oid:1.2.3"},
        {"url": "http://example.org/o", "valueMarkdown": "**x**"},
        {"url": "http://example.org/p", "valueUnsignedInt": 0},
        {"url": "http://example.org/q", "valuePositiveInt": 4},
        {"url": "http://example.org/r", "valueId": "a1"},
        {"url": "http://example.org/s", "valueCanonical": "http://example.org/x|1"},
    ],
    "modifierExtension": [{"url": "http://example.org/mod", "valueBoolean": True}],
    "identifier": [
        {
            "use": "official",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "MB",
                        "display": "Member",
                    }
                ],
                "text": "member",
            },
            "system": "http://example.org/ids",
            "value": "M1",
            "period": {"start": "2020-01-01"},
            "assigner": {"display": "Old Plan"},
        }
    ],
    "active": True,
    "name": [
        {
            "use": "official",
            "family": "Garcia",
            "_family": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
            "given": ["Maria", "Ann"],
            "_given": [None, {"id": "x"}],
            "prefix": ["Ms"],
            "suffix": ["Jr"],
            "text": "Maria Garcia",
            "period": {"end": "2030-01-01T00:00:00Z"},
        }
    ],
    "telecom": [{"system": "phone", "value": "617-555-2368", "use": "home", "rank": 1}],
    "gender": "female",
    "_gender": {"id": "g1"},
    "birthDate": "1984-03-12",
    "_birthDate": {
        "extension": [{"url": "http://example.org/t", "valueDateTime": "1984-03-12T10:00:00Z"}]
    },
    "deceasedBoolean": False,
    "address": [
        {
            "use": "home",
            "type": "physical",
            "line": ["1 Main St", "Apt 2"],
            "city": "Boston",
            "district": "Suffolk",
            "state": "MA",
            "postalCode": "02110",
            "country": "US",
        }
    ],
    "maritalStatus": {"text": "M"},
    "multipleBirthInteger": 2,
    "contact": [
        {
            "name": {"family": "X"},
            "relationship": [{"text": "x"}],
            "telecom": [{"value": "1"}],
            "address": {"city": "B"},
            "gender": "male",
            "organization": {"display": "o"},
            "period": {"start": "2020"},
        }
    ],
    "communication": [{"language": {"text": "en"}, "preferred": True}],
    "link": [{"other": {"reference": "Patient/2"}, "type": "seealso"}],
    "generalPractitioner": [{"reference": "Practitioner/1"}],
    "managingOrganization": {"reference": "Organization/1"},
    "photo": [{"url": "http://example.org/photo"}],
}
RICH_COVERAGE: dict[str, Any] = {
    "resourceType": "Coverage",
    "id": "c1",
    "status": "active",
    "identifier": [{"type": {"coding": [{"code": "MB"}]}, "value": "M1"}],
    "type": {"coding": [{"code": "HIP"}]},
    "subscriberId": "S1",
    "beneficiary": {"reference": "Patient/1", "display": "x", "identifier": {"value": "1"}},
    "relationship": {"coding": [{"code": "self"}]},
    "period": {"start": "2020-01-01", "end": "2021-01-01"},
    "payor": [{"display": "Any", "reference": "Organization/1"}],
    "class": [{"type": {"text": "group"}, "value": "g"}],
    "order": 1,
    "network": "n",
    "subrogation": False,
    "policyHolder": {"reference": "Patient/2"},
    "subscriber": {"reference": "Patient/2"},
    "dependent": "01",
    "contract": [{"reference": "Contract/1"}],
}
# Values of every kind, each put in place of every element in turn.
VALUES: list[Any] = [
    5,
    1.5,
    -1,
    0,
    True,
    None,
    "x",
    "",
    " ",
    "a b",
    "true",
    "0",
    "1984",
    "2020-13-01",
    "2020-02-30",
    "T",
    [],
    {},
    [None],
    [5],
    ["x"],
    [{}],
    {"fooBar": 1},
]
# Complex elements the service never reads, checked for their shape only (an object, or a list
# of objects): inside them the table does not go.
SHAPE_ONLY = frozenset({"contained", "photo", "costToBeneficiary", "valueQuantity", "div"})


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SHAPE_ONLY:
                yield (*path, key)
            else:
                yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _at(body: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        body = body[part]
    return body


def bad_bodies(rich: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    paths = [p for p in dict.fromkeys(_paths(rich)) if p and p != ("resourceType",)]
    for path in paths:
        for value in VALUES:
            yield (
                f"{'/'.join(map(str, path))}={orjson.dumps(value).decode()}",
                _with(rich, path, value),
            )
    for path in [(), *paths]:
        if isinstance(_at(rich, path), dict) and (not path or path[-1] not in SHAPE_ONLY):
            yield f"{'/'.join(map(str, path))}/+unknown", _with(rich, (*path, "fooBar"), 1)


def _outcome(parser: Parser, body: Any, kind: str) -> tuple[str, Any, list[str]]:
    """(accepted | refused | raised, the model, the pointers)."""
    pointer = "/" + kind.lower()
    try:
        model, errors = parser(body, pointer)
    except Exception as exc:  # noqa: BLE001 - the oracle's own bugs are part of its answer
        return "raised", type(exc).__name__, []
    # fhir.resources names a complex element of the wrong kind '<pointer>/root' (pydantic's
    # RootModel): no such position exists in the document; the lean models name the element.
    pointers = sorted(e.pointer.removesuffix("/root") for e in errors)
    return ("accepted" if model is not None else "refused"), model, pointers


def expected_difference(kind: str, case: str, old: tuple[str, Any, list[str]]) -> bool:
    """Where the lean models deliberately differ from fhir.resources:
    - fhir.resources raised (an AttributeError or TypeError: a 500) on a `_name` sibling or a
      valueUrl that is not an object or a string; the lean models refuse it (a 422);
    - inside the elements of SHAPE_ONLY only the shape is checked: fhir.resources refused
      something below one of them, the lean models accept it."""
    if old[0] == "raised":
        return True
    inside = [p for p in old[2] if any(f"/{name}/" in p for name in SHAPE_ONLY)]
    return old[0] == "refused" and len(inside) == len(old[2])


def _same(kind: str, body: dict[str, Any], case: str) -> None:
    old_parser, new_parser = PARSERS[kind]
    old = _outcome(old_parser, body, kind)
    new = _outcome(new_parser, body, kind)
    if expected_difference(kind, case, old):
        assert new[0] == "refused" or old[0] != "raised", (case, new)
        return
    assert (old[0], old[2]) == (new[0], new[2]), case
    if old[0] == "accepted":
        if kind == "Patient":
            assert to_raw(old[1]) == to_raw(new[1]), case
        else:
            assert _coverage_facts(old[1]) == _coverage_facts(new[1]), case


@pytest.mark.parametrize("kind", ["Patient", "Coverage"])
def test_every_bad_body_is_refused_at_the_same_pointers(kind: str) -> None:
    rich = RICH_PATIENT if kind == "Patient" else RICH_COVERAGE
    _same(kind, rich, "rich")
    cases = list(bad_bodies(rich))
    assert len(cases) > 1000
    refused = 0
    for case, body in cases:
        _same(kind, body, case)
        refused += new_refuses(kind, body)
    assert refused > len(cases) // 3  # the table is mostly bad bodies, not a tautology


def new_refuses(kind: str, body: dict[str, Any]) -> bool:
    return PARSERS[kind][1](body, "/x")[0] is None


# Several faults at once: random values (seeded) put at one to three elements.
ATOMS: list[Any] = [*VALUES, 2**40, "12:00:00", "\t", [[]], {"url": "x"}, {"extension": []}]
KEYS = [
    "url",
    "id",
    "extension",
    "valueString",
    "value",
    "system",
    "code",
    "coding",
    "family",
    "given",
    "_given",
    "start",
]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice(ATOMS)
    if roll < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


@pytest.mark.parametrize("kind", ["Patient", "Coverage"])
def test_bodies_with_several_faults_are_refused_at_the_same_pointers(kind: str) -> None:
    """fhir_core stops at a null in a list of complex elements before anything else of the
    element holding it: the lean errors report exactly what it reported, faults nested or not."""
    rng = random.Random(14)
    rich = RICH_PATIENT if kind == "Patient" else RICH_COVERAGE
    paths = [
        p
        for p in dict.fromkeys(_paths(rich))
        if p and p != ("resourceType",) and p[-1] not in SHAPE_ONLY
    ]
    refused = 0
    for number in range(1500):
        body = rich
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            try:
                body = _with(body, path, _random_value(rng))
            except (KeyError, IndexError, TypeError):  # an earlier fault replaced its parent
                continue
        _same(kind, body, f"random {number}")
        refused += new_refuses(kind, body)
    assert refused > 500


HAND_CASES: list[tuple[str, Any]] = [
    ("Patient", {"resourceType": "Patient"}),
    ("Patient", {"resourceType": "Coverage"}),
    ("Patient", {"name": [{"family": "x"}]}),
    ("Patient", "Patient"),
    ("Patient", {**P, "deceasedBoolean": True, "deceasedDateTime": "2020"}),
    ("Patient", {**P, "multipleBirthBoolean": True, "multipleBirthInteger": 2}),
    ("Patient", {**P, "extension": [{"valueString": "x"}]}),
    ("Patient", {**P, "extension": [{"_url": {"extension": [{"url": "u"}]}}]}),
    ("Patient", {**P, "extension": [{"url": "u", "valueString": "a", "valueCode": "b"}]}),
    ("Patient", {**P, "name": [None, None], "telecom": [None]}),
    ("Patient", {**P, "name": [{"given": [None, "x"]}]}),
    ("Patient", {**P, "text": {"status": "generated"}}),
    ("Patient", {**P, "text": {"div": "<div/>"}}),
    ("Patient", {**P, "link": [{"type": "refer"}]}),
    ("Patient", {**P, "link": [{"other": {}, "_type": {"extension": [{"url": "u"}]}}]}),
    ("Patient", {**P, "communication": [{}]}),
    ("Patient", {**P, "birthDate": "1984-03-12T00:00:00"}),
    ("Patient", {**P, "birthDate": 19840312}),
    ("Patient", {**P, "birthDate": "1984-02"}),
    ("Patient", {**P, "name": [{"family": "x" * 2000, "given": ["y"]}]}),
    ("Patient", {**P, "gender": "x", "active": "yes"}),
    ("Patient", {**P, "id": "a" * 300}),
    ("Patient", {**P, "fhir_comments": ["a"], "name": [{"fhir_comments": "b"}]}),
    ("Coverage", {"resourceType": "Coverage"}),
    ("Coverage", {"resourceType": "Coverage", "payor": [], "beneficiary": None}),
    ("Coverage", {"resourceType": "Coverage", "payor": [{}], "beneficiary": {}}),
    ("Coverage", {**C, "status": "a"}),
    ("Coverage", {**C, "_status": {"extension": [{"url": "u"}]}}),
    ("Coverage", {**C, "_status": {}}),
    ("Coverage", {**C, "status": "a", "class": [{}]}),
]


@pytest.mark.parametrize(("kind", "body"), HAND_CASES, ids=[str(i) for i in range(len(HAND_CASES))])
def test_hand_picked_bodies_decide_the_same(kind: str, body: Any) -> None:
    _same(kind, body, "hand")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lean-synthetic")
    write_dataset(out, members=1500, queries=600, seed=3, formats=("ndjson",))
    return out


def test_synthetic_members_and_queries_read_the_same(synthetic: Path) -> None:
    seen = {"Patient": 0, "Coverage": 0}
    for line in (synthetic / "members.ndjson").read_bytes().splitlines():
        resource = orjson.loads(line)
        seen[resource["resourceType"]] += 1
        _same(resource["resourceType"], resource, "member")
    for line in (synthetic / "queries.ndjson").read_bytes().splitlines():
        request = orjson.loads(line)["request"]
        _same("Patient", request["patient"], "query")
        if "coverage" in request:
            seen["Coverage"] += 1
            _same("Coverage", request["coverage"], "query")
    assert seen["Patient"] >= 1500
    assert seen["Coverage"] > 600


def test_python_field_names_are_unknown_members() -> None:
    """The one deliberate narrowing: fhir.resources also took its models' Python names for the
    `_name` siblings and `class` (`birthDate__ext`, `class_fhir`); they are no FHIR names."""
    patient = {"resourceType": "Patient", "birthDate__ext": {"id": "x"}}
    coverage = {k: v for k, v in RICH_COVERAGE.items() if k != "class"}
    coverage["class_fhir"] = RICH_COVERAGE["class"]
    assert oracle.parse_patient(patient)[1] == []
    assert oracle.parse_coverage(coverage)[1] == []
    assert [e.pointer for e in lean.parse_patient(patient)[1]] == ["/patient/birthDate__ext"]
    assert [e.pointer for e in lean.parse_coverage(coverage)[1]] == ["/coverage/class_fhir"]
