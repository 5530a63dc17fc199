"""The synthetic generator: determinism, formats, ground truth, realism constraints."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import phonenumbers
import pytest
import typer
from fhir.resources.patient import Patient as PatientR5
from fhir.resources.R4B.coverage import Coverage as CoverageR4B
from fhir.resources.R4B.patient import Patient as PatientR4B
from typer.testing import CliRunner

from identity.cli.synth import synth
from identity.synthetic import SyntheticMember, iter_members, write_dataset
from identity.synthetic.csv_out import CSV_HEADER
from identity.synthetic.fhir_out import MEMBER_ID_SYSTEM, US_SSN_SYSTEM
from identity.synthetic.ids import valid_ssn
from identity.synthetic.model import years_after
from identity.synthetic.queries import PERTURBATIONS, allocate

MEMBERS = 800
QUERIES = 300
SEED = 11

EXPECTED_HEADER = (
    "member_id,given,middle,family,suffix,previous_family,birth_date,sex,ssn,phone,email,"
    "address_line1,address_line2,city,state,zip,subscriber_id,relationship,coverage_start,"
    "coverage_end,payor,active"
)


def _ndjson(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as fh:
        return [orjson.loads(line) for line in fh]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("synthetic")
    paths = write_dataset(out, members=MEMBERS, queries=QUERIES, seed=SEED)
    rows = _csv(paths.members_csv)
    return {
        "paths": paths,
        "rows": rows,
        "by_id": {r["member_id"]: r for r in rows},
        "resources": _ndjson(paths.members_ndjson),
        "queries": _ndjson(paths.queries_ndjson),
        "duplicates": _csv(paths.duplicates_csv),
    }


@pytest.fixture(scope="module")
def population() -> list[SyntheticMember]:
    """A bigger master, in memory, for the rarer structures (twins, Jr/Sr)."""
    return list(iter_members(6000, SEED))


def _read_all(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a", members=300, queries=120, seed=5)
    write_dataset(tmp_path / "b", members=300, queries=120, seed=5)
    a, b = _read_all(tmp_path / "a"), _read_all(tmp_path / "b")
    assert sorted(a) == ["duplicates.csv", "members.csv", "members.ndjson", "queries.ndjson"]
    assert a == b


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a", members=300, queries=120, seed=5)
    write_dataset(tmp_path / "b", members=300, queries=120, seed=6)
    a, b = _read_all(tmp_path / "a"), _read_all(tmp_path / "b")
    for name in ("members.csv", "members.ndjson", "queries.ndjson"):
        assert a[name] != b[name]


def test_iter_members_is_what_is_written(dataset: dict[str, Any]) -> None:
    streamed = list(iter_members(MEMBERS, SEED))
    assert [m.member_id for m in streamed] == [r["member_id"] for r in dataset["rows"]]
    first = streamed[0].person
    assert dataset["rows"][0]["family"] == first.family
    assert dataset["rows"][0]["birth_date"] == first.birth_date.isoformat()


def test_a_smaller_master_is_a_prefix_of_a_larger_one() -> None:
    small = [m.member_id for m in iter_members(200, 3)]
    large = [m.member_id for m in iter_members(500, 3)]
    assert large[:200] == small


def test_only_the_requested_formats_are_written(tmp_path: Path) -> None:
    paths = write_dataset(tmp_path, members=50, queries=10, seed=1, formats=["csv"])
    assert paths.members_csv.exists()
    assert not paths.members_ndjson.exists()
    assert paths.queries_ndjson.exists()
    with pytest.raises(ValueError, match="formats"):
        write_dataset(tmp_path, members=5, queries=1, formats=["xml"])


# -- counts and formats ---------------------------------------------------------------------------


def test_counts(dataset: dict[str, Any]) -> None:
    rows, resources, queries = dataset["rows"], dataset["resources"], dataset["queries"]
    assert len(rows) == MEMBERS
    assert len(dataset["by_id"]) == MEMBERS  # member ids are unique
    assert len(resources) == 2 * MEMBERS
    assert len(queries) == QUERIES
    assert [q["query_id"] for q in queries] == [f"q{i:06d}" for i in range(1, QUERIES + 1)]
    kinds = Counter(q["truth"]["relationship"] for q in queries)
    expected = allocate(QUERIES)
    assert kinds["self"] == expected["exact"] + expected["perturbed"]
    for kind in ("twin", "household", "jr_sr", "namesake"):
        assert kinds[kind] == expected[kind]
    assert kinds["stranger"] == expected["stranger"]


def test_csv_header_is_exact(dataset: dict[str, Any]) -> None:
    first_line = dataset["paths"].members_csv.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first_line == EXPECTED_HEADER
    assert ",".join(CSV_HEADER) == EXPECTED_HEADER
    assert all(len(row) == len(CSV_HEADER) and None not in row for row in dataset["rows"])
    assert {row["active"] for row in dataset["rows"]} == {"true"}


def test_each_patient_is_followed_by_its_coverage(dataset: dict[str, Any]) -> None:
    resources = dataset["resources"]
    for patient, coverage in zip(resources[::2], resources[1::2], strict=True):
        assert patient["resourceType"] == "Patient"
        assert coverage["resourceType"] == "Coverage"
        assert coverage["beneficiary"]["reference"] == f"Patient/{patient['id']}"
        member_ids = [i["value"] for i in patient["identifier"] if i["system"] == MEMBER_ID_SYSTEM]
        assert len(member_ids) == 1
        assert patient["id"] == f"pat-{member_ids[0]}"
        row = dataset["by_id"][member_ids[0]]
        assert coverage["subscriberId"] == row["subscriber_id"]
        assert patient["birthDate"] == row["birth_date"]
        assert patient["name"][0]["family"] == row["family"]


def test_fhir_resources_validate(dataset: dict[str, Any]) -> None:
    resources = dataset["resources"]
    sample = resources[: 2 * 60] + resources[2 * 60 :: 23]
    for obj in sample:
        if obj["resourceType"] == "Patient":
            PatientR4B.model_validate(obj)
            PatientR5.model_validate(obj)
        else:
            CoverageR4B.model_validate(obj)
    for query in dataset["queries"][::3]:
        request = query["request"]
        assert not any(
            i.get("system") == MEMBER_ID_SYSTEM for i in request["patient"].get("identifier", [])
        )
        PatientR4B.model_validate(request["patient"])
        PatientR5.model_validate(request["patient"])
        if request["coverage"] is not None:
            CoverageR4B.model_validate(request["coverage"])


def test_maiden_names_are_official_plus_old(dataset: dict[str, Any]) -> None:
    with_previous = [p for p in dataset["resources"][::2] if len(p["name"]) > 1]
    assert with_previous
    for patient in with_previous:
        assert patient["name"][0]["use"] == "official"
        assert patient["name"][1]["use"] in ("maiden", "old")
        assert patient["name"][1]["family"] != patient["name"][0]["family"]


# -- value constraints ----------------------------------------------------------------------------


def _query_phones(queries: list[dict[str, Any]]) -> list[str]:
    return [
        t["value"]
        for q in queries
        for t in q["request"]["patient"].get("telecom", [])
        if t["system"] == "phone"
    ]


def _query_ssns(queries: list[dict[str, Any]]) -> list[str]:
    return [
        i["value"].replace("-", "")
        for q in queries
        for i in q["request"]["patient"].get("identifier", [])
        if i["system"] == US_SSN_SYSTEM
    ]


def test_all_phones_are_valid_us_numbers(dataset: dict[str, Any]) -> None:
    phones = [r["phone"] for r in dataset["rows"] if r["phone"]]
    phones += _query_phones(dataset["queries"])
    assert len(phones) > MEMBERS // 2
    for number in phones:
        parsed = phonenumbers.parse(number, "US")
        assert phonenumbers.is_valid_number(parsed), number
        assert parsed.country_code == 1


def test_all_ssns_are_in_valid_ranges(dataset: dict[str, Any]) -> None:
    rows = dataset["rows"]
    ssns = [r["ssn"] for r in rows if r["ssn"]]
    assert 0.7 < len(ssns) / len(rows) < 0.9
    for ssn in ssns + _query_ssns(dataset["queries"]):
        assert valid_ssn(ssn), ssn
        area, group, serial = int(ssn[:3]), int(ssn[3:5]), int(ssn[5:])
        assert 1 <= area <= 665 or 667 <= area <= 899
        assert group != 0
        assert serial != 0


def test_population_shape(population: list[SyntheticMember]) -> None:
    families = Counter(m.person.family for m in population)
    assert families.most_common(1)[0][0] in ("Smith", "Johnson", "Williams", "Garcia")
    assert any(" " in f for f in families)  # compound Hispanic surnames
    assert any("-" in f for f in families)  # hyphenated married names
    assert any("'" in f for f in families)  # O'Brien and friends
    assert any(not f.isascii() for f in families)  # Núñez
    assert any(not m.person.given.isascii() for m in population)  # José
    sexes = Counter(m.person.sex for m in population)
    assert sexes["unknown"] < sexes["male"] / 50
    relationships = Counter(m.coverage.relationship for m in population)
    assert set(relationships) == {"self", "spouse", "child"}
    emails = sum(1 for m in population if m.person.email) / len(population)
    units = sum(1 for m in population if m.person.address.line2) / len(population)
    assert 0.5 < emails < 0.7
    assert 0.05 < units < 0.15


def test_households_share_card_address_and_family(population: list[SyntheticMember]) -> None:
    households: dict[int, list[SyntheticMember]] = defaultdict(list)
    for m in population:
        if m.duplicate_of is None:
            households[m.household_id].append(m)
    for members in households.values():
        head = members[0]
        assert head.coverage.relationship == "self"
        for m in members[1:]:
            assert m.coverage.subscriber_id == head.coverage.subscriber_id
            assert m.person.address == head.person.address
            assert m.coverage.relationship in ("spouse", "child")


def test_twins_share_birth_date_family_and_address(population: list[SyntheticMember]) -> None:
    children: dict[tuple[int, date], list[SyntheticMember]] = defaultdict(list)
    for m in population:
        if m.duplicate_of is None and m.coverage.relationship == "child":
            children[(m.household_id, m.person.birth_date)].append(m)
    twins = [group for group in children.values() if len(group) > 1]
    assert twins
    for a, b, *_ in twins:
        assert a.person.family == b.person.family
        assert a.person.address == b.person.address
        assert a.person.given != b.person.given


def test_jr_sr_pairs_are_18_to_45_years_apart(population: list[SyntheticMember]) -> None:
    seniors: dict[tuple[str, str], list[date]] = defaultdict(list)
    for m in population:
        if m.person.suffix == "Sr":
            seniors[(m.person.given, m.person.family)].append(m.person.birth_date)
    juniors = [m for m in population if m.person.suffix in ("Jr", "II") and m.duplicate_of is None]
    assert juniors
    for jr in juniors:
        fathers = seniors[(jr.person.given, jr.person.family)]
        assert fathers, jr.person
        assert any(
            years_after(sr, 18) <= jr.person.birth_date <= years_after(sr, 45) for sr in fathers
        )


def test_duplicates_are_second_enrolments(dataset: dict[str, Any]) -> None:
    by_id, duplicates = dataset["by_id"], dataset["duplicates"]
    assert duplicates
    assert list(duplicates[0]) == ["member_id_a", "member_id_b"]
    for pair in duplicates:
        a, b = by_id[pair["member_id_a"]], by_id[pair["member_id_b"]]
        assert a["member_id"] != b["member_id"]
        assert a["birth_date"] == b["birth_date"]
        assert a["relationship"] == b["relationship"]


def test_namesakes_exist_in_the_master(population: list[SyntheticMember]) -> None:
    places: dict[tuple[str, str], set[str]] = defaultdict(set)
    for m in population:
        places[(m.person.given, m.person.family)].add(m.person.address.state)
    assert any(len(states) > 1 for states in places.values())


# -- ground truth ---------------------------------------------------------------------------------


def test_truth_member_ids_exist(dataset: dict[str, Any]) -> None:
    by_id = dataset["by_id"]
    for query in dataset["queries"]:
        truth = query["truth"]
        if truth["relationship"] == "self":
            assert truth["member_id"] in by_id
        else:
            assert truth["member_id"] is None
            assert truth["relationship"] in ("twin", "household", "jr_sr", "namesake", "stranger")


def _who(patient: dict[str, Any]) -> tuple[str, str, str]:
    name = patient["name"][0]
    return name["given"][0], name["family"], patient["birthDate"]


def test_exact_and_perturbed_queries(dataset: dict[str, Any]) -> None:
    by_id = dataset["by_id"]
    exact = perturbed = 0
    for query in dataset["queries"]:
        truth = query["truth"]
        if truth["relationship"] != "self":
            assert truth["perturbations"] == []
            continue
        row = by_id[truth["member_id"]]
        patient = query["request"]["patient"]
        if not truth["perturbations"]:
            exact += 1
            assert _who(patient) == (row["given"], row["family"], row["birth_date"])
            assert query["request"]["coverage"]["subscriberId"] == row["subscriber_id"]
            continue
        perturbed += 1
        # up to three changes, plus (compound changes) no SSN and no card
        assert 1 <= len(truth["perturbations"]) <= 5
        assert set(truth["perturbations"]) <= set(PERTURBATIONS)
        changed_name = {
            "nickname",
            "diminutive",
            "typo_given",
            "typo_family",
            "family_name_change",
            "married_name_moved",
        }
        changed_date = {p for p in PERTURBATIONS if p.startswith("birth")}
        if changed_name & set(truth["perturbations"]):
            assert _who(patient)[:2] != (row["given"], row["family"])
        if changed_date & set(truth["perturbations"]):
            assert patient["birthDate"] != row["birth_date"]
        if "coverage_absent" in truth["perturbations"]:
            assert query["request"]["coverage"] is None
    expected = allocate(QUERIES)
    assert (exact, perturbed) == (expected["exact"], expected["perturbed"])


def test_not_enrolled_people_are_absent_from_the_master(dataset: dict[str, Any]) -> None:
    rows = dataset["rows"]
    people = {(r["given"], r["family"], r["birth_date"]) for r in rows}
    ssns = {r["ssn"] for r in rows if r["ssn"]}
    subscriber_ids = {r["subscriber_id"] for r in rows}
    by_family_date = defaultdict(list)
    by_name = defaultdict(list)
    for r in rows:
        by_family_date[(r["family"], r["birth_date"])].append(r)
        by_name[(r["given"], r["family"])].append(r)
    for query in dataset["queries"]:
        kind = query["truth"]["relationship"]
        if kind == "self":
            continue
        patient, coverage = query["request"]["patient"], query["request"]["coverage"]
        given, family, born = _who(patient)
        assert (given, family, born) not in people, query["query_id"]
        for ssn in _query_ssns([query]):
            assert ssn not in ssns
        if kind in ("twin", "household", "jr_sr") and coverage is not None:
            assert coverage["subscriberId"] in subscriber_ids  # they share the card
        if kind in ("namesake", "stranger") and coverage is not None:
            assert coverage["subscriberId"] not in subscriber_ids
        if kind == "twin":
            line1 = patient["address"][0]["line"][0]
            siblings = [r for r in by_family_date[(family, born)] if r["address_line1"] == line1]
            assert siblings
            assert all(r["given"] != given for r in siblings)
        if kind == "namesake":
            assert by_name[(given, family)]
        if kind == "jr_sr":
            born_d = date.fromisoformat(born)
            relatives = [date.fromisoformat(r["birth_date"]) for r in by_name[(given, family)]]
            assert any(
                years_after(d, 18) <= born_d <= years_after(d, 45)
                or years_after(born_d, 18) <= d <= years_after(born_d, 45)
                for d in relatives
            )


# -- command line ---------------------------------------------------------------------------------


def test_cli_writes_the_dataset(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(synth)

    @app.command()
    def other() -> None:  # a second command keeps `synth` a named subcommand
        pass

    result = CliRunner().invoke(
        app,
        ["synth", "--out", str(tmp_path), "--members", "120", "--queries", "30", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "120 members" in result.output
    assert "30 queries" in result.output
    assert len(_csv(tmp_path / "members.csv")) == 120


def test_a_mailbox_has_one_owner(population: list[SyntheticMember]) -> None:
    """Addresses are made from names (gregory.wilson@…), yet two people who are not one household
    never share one, as no mail provider would let them: only a household shares a mailbox."""
    households_by_email: dict[str, set[int]] = defaultdict(set)
    for m in population:
        if m.person.email:
            households_by_email[m.person.email].add(m.household_id)
    assert households_by_email
    assert all(len(h) == 1 for h in households_by_email.values())
    assert any(e.split("@")[0][-1].isdigit() for e in households_by_email)  # a numbered one


def test_nobody_outside_the_master_uses_a_members_mailbox(dataset: dict[str, Any]) -> None:
    members_emails = {r["email"] for r in dataset["rows"] if r["email"]}
    for query in dataset["queries"]:
        if query["truth"]["relationship"] in ("namesake", "stranger"):
            telecom = query["request"]["patient"].get("telecom", [])
            emails = {t["value"] for t in telecom if t["system"] == "email"}
            assert not emails & members_emails
