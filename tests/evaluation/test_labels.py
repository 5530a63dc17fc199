"""The labelled-data formats: what a good pair of files gives, and every problem of a bad pair
named by file and line, never by value."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from identity.evaluation.labels import LabelError, read_labelled
from tests.factories import fhir_coverage, fhir_patient

TODAY = date(2026, 12, 7)


def _write(tmp_path: Path, requests: list[str], truth: str) -> tuple[Path, Path]:
    r = tmp_path / "requests.ndjson"
    r.write_text("\n".join(requests) + "\n")
    t = tmp_path / "truth.csv"
    t.write_text(truth)
    return r, t


def _body(request_id: object, **extra: object) -> str:
    return json.dumps({"id": request_id, "patient": fhir_patient(), **extra})


def test_a_good_pair_of_files(tmp_path: Path) -> None:
    files = _write(
        tmp_path,
        [_body("a", coverage=fhir_coverage("S1")), "", _body(7), _body("c")],
        "a,m-1 M2,twin household\n7,,stranger\nc,M3\n",  # no header: the first row is data
    )
    queries = {q.request_id: q for q in read_labelled(*files, TODAY)}
    assert list(queries) == ["a", "7", "c"]
    assert queries["a"].truth == frozenset({"M1", "M2"})  # normalised as stored member ids are
    assert queries["a"].tags == ("twin", "household")
    assert queries["a"].raw is not None
    assert queries["a"].raw.subscriber_ids == ("S1",)
    assert (queries["7"].truth, queries["7"].enrolled) == (frozenset(), False)
    assert (queries["c"].truth, queries["c"].tags) == (frozenset({"M3"}), ())


def test_every_problem_of_both_files_at_once(tmp_path: Path) -> None:
    secret = "Zebulon"
    files = _write(
        tmp_path,
        [
            _body("a"),
            json.dumps({"patient": fhir_patient(secret)}),  # no id
            _body("a"),  # repeated
            json.dumps({"id": "d", "patient": fhir_patient(secret), "extra": 1}),
            "[1, 2]",
            _body("f"),
        ],
        "request_id,member_ids,tags\na,M1\nd,M1,x,y\n,M2\n",
    )
    with pytest.raises(LabelError) as caught:
        read_labelled(*files, TODAY)
    problems = caught.value.problems
    assert problems == [
        "requests.ndjson:2: `id` (a string naming the request) is missing",
        "requests.ndjson:3: request id repeated (first on line 1)",
        "requests.ndjson:4: not a valid /v1/match body (/extra unknown member)",
        "requests.ndjson:5: not a JSON object",
        "truth.csv:3: expected request_id,member_ids[,tags] (4 columns)",
        "truth.csv:4: the request id is empty",
        "requests.ndjson:6: no row in truth.csv",
    ]
    assert secret not in str(caught.value)


def test_a_truth_row_without_its_request(tmp_path: Path) -> None:
    files = _write(tmp_path, [_body("a")], "a,M1\nb,M2\n")
    with pytest.raises(LabelError, match=r"truth.csv: 1 row\(s\) name no request"):
        read_labelled(*files, TODAY)
