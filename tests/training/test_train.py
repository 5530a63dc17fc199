"""`identity train`: real splink (DuckDB) on a small synthetic master in the real databases.

The incoming side is the synthetic query set, stored as match decisions (the default source) or
given as an extract file. Training runs with a small u sample to keep the file fast.
"""

from __future__ import annotations

import math
import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
import typer
import yaml
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from identity.cli.train import train
from identity.config import Settings
from identity.db import transaction
from identity.matching.policy import find_policy, load_policy_file, parse_policy
from identity.matching.record import StandardRecord, record_as_dict
from identity.matching.standardize import standardize
from identity.member.service import load_members
from identity.member.sources import SourceError, read_source
from identity.models import MatchDecision
from identity.resolution.service import fingerprint, parse_match_request
from identity.synthetic import DatasetPaths, write_dataset
from identity.training.checks import degeneracy_problems
from identity.training.data import Incoming
from identity.training.errors import TrainingRefused
from identity.training.estimates import Estimates, LevelEstimate
from identity.training.service import TrainingRun, train_policy, train_sides
from identity.training.train import TrainOptions
from identity.training.write import default_label
from tests.conftest import RULES_DIR, TENANT

MEMBERS = 3_000
QUERIES = 1_000
TODAY = date(2026, 11, 22)
FAST = TrainOptions(max_pairs=300_000, em_max_pairs=300_000)
# Where the data cannot teach m (a phonetic-only or ZIP-only agreement of the same person is
# rare), the policy's bounds keep one unlucky level from vetoing a match. The test tightens the
# ZIP bound so that clipping is visible.
POLICY_ZIP_BOUND = "      zip: {m_min: 0.001}\n"
TEST_ZIP_BOUND = "      zip: {m_min: 0.002, m_max: 0.5}\n"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetPaths:
    out = tmp_path_factory.mktemp("synthetic")
    return write_dataset(out, members=MEMBERS, queries=QUERIES, seed=7, formats=("ndjson",))


@pytest.fixture(scope="module")
def queries(dataset: DatasetPaths) -> list[StandardRecord]:
    with dataset.queries_ndjson.open("rb") as fh:
        bodies = [orjson.loads(line)["request"] for line in fh]
    return [standardize(parse_match_request(b, TODAY), today=TODAY) for b in bodies]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The default policy with a tighter ZIP bound, alone in a folder of its own."""
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (RULES_DIR / "default.yaml").read_text()
    assert POLICY_ZIP_BOUND in text
    (rules / "default.yaml").write_text(text.replace(POLICY_ZIP_BOUND, TEST_ZIP_BOUND, 1))
    return rules


def _load_master(sessions: sessionmaker[Session], dataset: DatasetPaths) -> None:
    with transaction(sessions) as session:
        assert load_members(session, TENANT, [dataset.members_ndjson]).ok


def _store_requests(
    sessions: sessionmaker[Session], version: str, records: list[StandardRecord]
) -> None:
    with transaction(sessions) as session:
        session.add_all(
            MatchDecision(
                id=str(uuid.uuid4()),
                tenant_id=TENANT,
                input_fingerprint=fingerprint(r),
                policy_version=version,
                outcome="review",
                stage="probabilistic",
                reason="test",
                candidates=[],
                stored_evidence={"query": record_as_dict(r)},
                timings_ms={},
            )
            for r in records
        )


def _train(sessions: sessionmaker[Session], rules_dir: Path) -> TrainingRun:
    source = find_policy(rules_dir, "default")
    with transaction(sessions) as session:
        return train_policy(session, TENANT, source, rules_dir=rules_dir, options=FAST)


def test_training_writes_a_new_checked_policy_version(
    sessions: sessionmaker[Session],
    active_policy: str,
    dataset: DatasetPaths,
    queries: list[StandardRecord],
    rules_dir: Path,
) -> None:
    _load_master(sessions, dataset)
    _store_requests(sessions, active_policy, queries + queries[:50])  # repeats count once
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    source = find_policy(rules_dir, "default")
    with transaction(sessions) as session:
        run = train_policy(session, TENANT, source, rules_dir=rules_dir, options=FAST, now=now)

    assert run.problems == []
    assert run.path == rules_dir / f"{source.label}-trained.202611220930.yaml"
    written = load_policy_file(run.path)
    assert written == run.written
    assert written.version != source.version
    assert written.label == f"{source.label}-trained.202611220930"
    assert parse_policy(written.source_text).version == written.version

    model, old = written.document.model, source.document.model
    assert model is not None
    assert old is not None
    assert model.prior != old.prior
    assert 1e-9 < model.prior < 0.5
    assert model.parameters != old.parameters
    for spec in written.document.comparisons:
        for level in spec.levels:
            p = model.parameters[spec.name][level.label]
            if level.kind == "exact":
                assert p.m > p.u, f"{spec.name}.{level.label}"
    # Floats go to the file at full precision: the service gets splink's numbers to the bit.
    for lv in run.estimates.levels:
        assert model.parameters[lv.comparison][lv.level].m == lv.m
        assert model.parameters[lv.comparison][lv.level].u == lv.u

    # Bounds clip, and say so.
    zip_m = model.parameters["household"]["zip"].m
    assert 0.002 <= zip_m <= 0.5
    assert model.parameters["given_name"]["phonetic"].m >= 0.001
    assert model.m_bounds == old.m_bounds

    # Term frequencies of the master's names, values seen at least twice.
    tf = model.term_frequencies
    assert set(tf) == {"given_name", "family_name"}
    assert len(tf["family_name"].values) > 50
    assert all(0 < f < 1 for f in tf["given_name"].values.values())

    training = model.training
    assert training is not None
    assert training["link_type"] == "link_only"
    assert training["trained_from"] == source.version
    assert training["counts"]["master"] == MEMBERS
    assert training["counts"]["incoming"] == len({fingerprint(q) for q in queries})
    assert training["counts"]["incoming_skipped"] >= 50
    assert training["data_fingerprint"].startswith("sha256:")
    assert len(training["em_blocking_rules"]) == 3
    assert all(pairs > 0 for pairs in training["counts"]["em_pairs"].values())
    assert "member_id.exact" in training["notes"]["u_default"]
    assert training["splink_version"] == "5.0.0"
    # Every comparison was estimated by EM while not blocked on.
    estimated = {c for run_ in training["em"] for c in run_["estimated"]}
    assert estimated == {c.name for c in written.document.comparisons}

    # The same label again is refused before any work: files are never overwritten.
    with (
        pytest.raises(TrainingRefused, match="already exists"),
        transaction(sessions) as session,
    ):
        train_policy(session, TENANT, source, rules_dir=rules_dir, options=FAST, now=now)


def test_too_little_incoming_data_is_refused(
    sessions: sessionmaker[Session],
    active_policy: str,
    queries: list[StandardRecord],
    rules_dir: Path,
) -> None:
    _store_requests(sessions, active_policy, queries[:150])
    with pytest.raises(TrainingRefused, match="too little incoming data: 150") as refused:
        _train(sessions, rules_dir)
    assert any("--extract" in reason for reason in refused.value.reasons)
    assert [p.name for p in rules_dir.iterdir()] == ["default.yaml"]


def _members(dataset: DatasetPaths) -> list[tuple[str, StandardRecord]]:
    return [
        (item.member_id, standardize(item.raw, today=TODAY))
        for item in read_source(dataset.members_ndjson)
        if not isinstance(item, SourceError)
    ]


def test_exact_copies_of_the_master_are_refused(dataset: DatasetPaths, tmp_path: Path) -> None:
    """A second extract that only repeats the master teaches EM that names never vary."""
    master = _members(dataset)
    copies = Incoming("extract", [(f"copy:{i}", r) for i, r in master[:1_000]])
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(RULES_DIR / "default.yaml", rules / "default.yaml")
    source = find_policy(rules, "default")
    run = train_sides(
        TENANT, source, copies, iter(master), len(master), rules_dir=rules, options=FAST
    )
    assert run.written is None
    assert run.path is None
    assert any(p.startswith("EM found no real variation") for p in run.problems), run.problems
    assert [p.name for p in rules.iterdir()] == ["default.yaml"]


def _level(comparison: str, level: str, kind: str, m: float, u: float) -> LevelEstimate:
    return LevelEstimate(comparison, level, kind, m, u, True, True, m)


def _estimates(prior: float, *levels: LevelEstimate) -> Estimates:
    return Estimates(prior, list(levels), (), 0.6, 0, 0, 0, [])


HEALTHY = (
    _level("given_name", "exact", "exact", 0.8, 0.01),
    _level("given_name", "nickname", "nickname", 0.05, 0.002),
    _level("given_name", "else", "else", 0.15, 0.988),
)


@pytest.mark.parametrize(
    ("prior", "levels", "expected"),
    [
        (1e-4, HEALTHY, []),
        (0.6, HEALTHY, ["prior: 0.6 is outside (1e-09, 0.5)"]),
        (1e-12, HEALTHY, ["prior: 1e-12 is outside (1e-09, 0.5)"]),
        (math.nan, HEALTHY, ["prior: NaN"]),
        (
            1e-4,
            (
                _level("given_name", "exact", "exact", 0.9, 0.01),
                _level("given_name", "nickname", "nickname", 1e-9, 0.002),
                _level("given_name", "jaro_winkler_0.92", "jaro_winkler", 3e-7, 0.002),
                _level("given_name", "else", "else", 0.1, 0.986),
            ),
            ["given_name: EM collapsed"],
        ),
        (
            1e-4,
            (_level("sex", "exact", "exact", 0.4, 0.5), _level("sex", "else", "else", 0.6, 0.5)),
            [
                "sex.exact: exact agreement counts against a match",
                "sex.else: disagreement counts for a match",
            ],
        ),
        (
            1e-4,
            (
                _level("given_name", "exact", "exact", 0.996, 0.01),
                _level("given_name", "nickname", "nickname", 0.002, 0.002),
                _level("given_name", "else", "else", 0.002, 0.986),
                _level("birth_date", "exact", "exact", 0.997, 1e-4),
                _level("birth_date", "one_digit_off", "one_digit_off", 0.003, 0.001),
                _level("birth_date", "else", "else", 1e-19, 0.998),
            ),
            ["EM found no real variation"],
        ),
        (1e-4, (_level("email", "exact", "exact", math.nan, 1e-5),), ["email.exact: NaN"]),
        (1e-4, (_level("email", "exact", "exact", 0.0, 1e-5),), ["email.exact: m=0"]),
    ],
)
def test_degeneracy_checks(
    prior: float, levels: tuple[LevelEstimate, ...], expected: list[str]
) -> None:
    problems = degeneracy_problems(_estimates(prior, *levels))
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_default_label_replaces_an_earlier_stamp() -> None:
    now = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert default_label("1.1.0", now) == "1.1.0-trained.202601020304"
    assert default_label("1.1.0-trained.202512312359", now) == "1.1.0-trained.202601020304"
    assert len(default_label("x" * 41, now)) == 41


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def cli(settings: Settings, rules_dir: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("IDENTITY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IDENTITY_RULES_DIR", str(rules_dir))
    monkeypatch.setenv("IDENTITY_DEFAULT_TENANT", TENANT)
    app = typer.Typer()
    app.command()(train)
    app.command("noop")(lambda: None)  # two commands, so `train` is invoked by name
    return app


# The command's own logic is database-agnostic; training reads both databases above.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_refuses_with_messages(
    cli: typer.Typer, sessions: sessionmaker[Session], dataset: DatasetPaths, tmp_path: Path
) -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["train", "--policy", "no-such-policy"])
    assert unknown.exit_code == 1
    assert "no policy named 'no-such-policy'" in unknown.stderr

    empty = runner.invoke(cli, ["train", "--policy", "default"])
    assert empty.exit_code == 1
    assert "too little incoming data: 0 record(s) from stored match requests" in empty.stderr

    # The master itself as the "second extract": exact copies, refused with every reason.
    _load_master(sessions, dataset)
    charts = tmp_path / "refused.html"
    copies = runner.invoke(
        cli,
        [
            "train",
            "--policy",
            "default",
            "--extract",
            str(dataset.members_ndjson),
            "--max-pairs",
            "300000",
            "--charts",
            str(charts),
        ],
    )
    assert copies.exit_code == 1, copies.output
    assert "degeneracy check(s) failed; no policy was written" in copies.stderr
    assert "EM found no real variation" in copies.stderr
    assert "REFUSED" in copies.stdout
    assert "(refused)" in charts.read_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_trains_from_an_extract(
    cli: typer.Typer,
    sessions: sessionmaker[Session],
    dataset: DatasetPaths,
    rules_dir: Path,
    tmp_path: Path,
) -> None:
    _load_master(sessions, dataset)
    # The query set's patients and coverages, as a second extract of members would carry them.
    extract = tmp_path / "extract.ndjson"
    with dataset.queries_ndjson.open("rb") as src, extract.open("wb") as out:
        for line in src:
            request = orjson.loads(line)["request"]
            patient = request["patient"]
            patient.setdefault("identifier", []).append(
                {"type": {"coding": [{"code": "MB"}]}, "value": f"X{patient['id']}"}
            )
            out.write(orjson.dumps(patient) + b"\n")
            if request.get("coverage"):
                out.write(orjson.dumps(request["coverage"]) + b"\n")
    charts = tmp_path / "charts.html"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--policy",
            "default",
            "--extract",
            str(extract),
            "--label",
            "2.0.0-test",
            "--max-pairs",
            "300000",
            "--charts",
            str(charts),
        ],
    )
    assert result.exit_code == 0, result.output
    path = rules_dir / "2.0.0-test.yaml"
    version = load_policy_file(path).version
    assert f"wrote {path}" in result.stdout
    assert f"version {version}" in result.stdout
    assert f"next: identity policy activate --tenant {TENANT} 2.0.0-test.yaml" in result.stdout
    training = yaml.safe_load(path.read_text())["model"]["training"]
    assert training["incoming"] == {"source": "extract", "files": ["extract.ndjson"]}
    page = charts.read_text()
    for title in ("Match weights", "m and u parameters", "EM estimates of m"):
        assert title in page
    # No member data in the report: counts and parameters only.
    report = page[page.index("<pre>") :]
    for _, member in _members(dataset)[:20]:
        for value in (member.family, member.ssn, member.phone):
            assert not value or (value not in result.stdout and value not in report)
