"""Which security labels make a resource sensitive, and what a regular consent sees of a Bundle."""

from __future__ import annotations

from typing import Any

import pytest

from identity.gate.labels import filter_bundle, is_sensitive

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONF = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def labelled(*codings: tuple[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "meta": {"security": [{"system": s, "code": c} for s, c in codings]},
    }


# labels -> sensitive?
LABELS = [
    ("no labels", {"resourceType": "Observation"}, False),
    ("ethnicity", labelled((ACT, "ETH")), True),
    ("HIV/AIDS", labelled((ACT, "HIV")), True),
    ("psychiatry", labelled((ACT, "PSY")), True),
    ("substance use", labelled((ACT, "SUD")), True),
    ("sexuality and reproductive health", labelled((ACT, "SEX")), True),
    ("sexually transmitted disease", labelled((ACT, "STD")), True),
    ("restricted", labelled((CONF, "R")), True),
    ("very restricted", labelled((CONF, "V")), True),
    ("normal confidentiality", labelled((CONF, "N")), False),
    ("moderate confidentiality", labelled((CONF, "M")), False),
    ("the pre-R4 system URI", labelled(("http://hl7.org/fhir/v3/ActCode", "PSY")), True),
    ("the right code in another system", labelled(("http://example.org/codes", "HIV")), False),
    (
        "a purpose of use, not a sensitivity",
        labelled(("http://terminology.hl7.org/CodeSystem/v3-ActReason", "TREAT")),
        False,
    ),
    ("among other labels", labelled((CONF, "N"), (ACT, "SUD")), True),
    (
        "a sensitive contained resource",
        {"resourceType": "DiagnosticReport", "contained": [labelled((ACT, "HIV"))]},
        True,
    ),
    ("malformed meta", {"resourceType": "Observation", "meta": {"security": "R"}}, False),
]


@pytest.mark.parametrize(("case", "resource", "sensitive"), LABELS, ids=[x[0] for x in LABELS])
def test_sensitivity(case: str, resource: dict[str, Any], sensitive: bool) -> None:
    assert is_sensitive(resource) is sensitive, case


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def test_a_regular_reader_sees_no_sensitive_entry_and_no_total() -> None:
    plain, secret = {"resourceType": "Observation", "id": "o1"}, labelled((ACT, "PSY"))
    out = filter_bundle(bundle(plain, secret), lambda r: not is_sensitive(r), may_withhold=True)
    assert out.removed == 1
    assert out.bundle == {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": plain}],
    }


def test_total_stays_when_nothing_can_be_withheld() -> None:
    plain = {"resourceType": "Observation", "id": "o1"}
    out = filter_bundle(bundle(plain), lambda r: True, may_withhold=False)
    assert (out.removed, out.bundle["total"]) == (0, 1)
    emptied = filter_bundle(bundle(plain), lambda r: False, may_withhold=False)
    assert emptied.removed == 1
    assert "entry" not in emptied.bundle
    assert "total" not in emptied.bundle
