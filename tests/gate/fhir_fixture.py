"""A small FHIR server to stand behind the gate (synthetic data). It is deliberately lenient, as
real servers can be: a search without a patient parameter returns everyone's resources, and its
Encounter search ignores the patient parameter altogether. The gate must not rely on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONF = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
FHIR_JSON = "application/fhir+json"

OURS = "pat-4711"  # the matched member's record
OTHER = "pat-0815"  # someone else's
LABELLED = "pat-9999"  # a record whose Patient resource is itself restricted
HREX_MEMBER = "pat-1"  # the HRex examples' member, as tests/exchange loads her


def patient(pid: str, *labels: tuple[str, str]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Synthetic", "given": [pid]}],
    }
    if labels:
        resource["meta"] = {"security": [{"system": s, "code": c} for s, c in labels]}
    return resource


def about(kind: str, rid: str, pid: str, *labels: tuple[str, str]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": rid,
        "subject": {"reference": f"Patient/{pid}"},
    }
    if labels:
        resource["meta"] = {"security": [{"system": s, "code": c} for s, c in labels]}
    return resource


PATIENTS = {
    OURS: patient(OURS),
    OTHER: patient(OTHER),
    LABELLED: patient(LABELLED, (CONF, "R")),
    HREX_MEMBER: patient(HREX_MEMBER),
}
OBSERVATIONS = [
    about("Observation", "obs-1", OURS),
    about("Observation", "obs-2", OURS, (ACT, "HIV")),
    about("Observation", "obs-3", OTHER),
]
CONDITIONS = [
    about("Condition", "cond-1", OURS, ("http://hl7.org/fhir/v3/ActCode", "PSY")),
    about("Condition", "cond-2", OURS),
]
ENCOUNTERS = [about("Encounter", "enc-1", OURS), about("Encounter", "enc-2", OTHER)]


@dataclass
class Seen:
    """What the server was asked: path, query and the Prefer header of each request."""

    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


def searchset(request: Request, resources: list[dict[str, Any]]) -> Response:
    base = str(request.base_url).rstrip("/") + "/fhir"
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }
    return JSONResponse(bundle, media_type=FHIR_JSON)


def not_found() -> Response:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": "no such resource"}],
    }
    return JSONResponse(outcome, status_code=404, media_type=FHIR_JSON)


def _for(resources: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    wanted = request.query_params.get("patient") or request.query_params.get("subject")
    if wanted is None:  # lenient: no filter, everyone's
        return resources
    pid = wanted.removeprefix("Patient/")
    return [r for r in resources if r["subject"]["reference"] == f"Patient/{pid}"]


def fhir_app(seen: Seen) -> Starlette:
    async def record(request: Request) -> None:
        seen.requests.append((request.url.path, request.url.query, request.headers.get("prefer")))

    async def read_patient(request: Request) -> Response:
        await record(request)
        found = PATIENTS.get(request.path_params["pid"])
        return JSONResponse(found, media_type=FHIR_JSON) if found else not_found()

    async def everything(request: Request) -> Response:
        await record(request)
        pid = request.path_params["pid"]
        if pid not in PATIENTS:
            return not_found()
        mine = [
            r for r in OBSERVATIONS + CONDITIONS if r["subject"]["reference"] == f"Patient/{pid}"
        ]
        return searchset(request, [PATIENTS[pid], *mine])

    async def observations(request: Request) -> Response:
        await record(request)
        return searchset(request, _for(OBSERVATIONS, request))

    async def encounters(request: Request) -> Response:
        await record(request)
        return searchset(request, ENCOUNTERS)  # ignores the patient parameter

    async def xml(request: Request) -> Response:
        await record(request)
        return Response(b"<Bundle/>", media_type="application/fhir+xml")

    return Starlette(
        routes=[
            Route("/fhir/Patient/{pid}", read_patient),
            Route("/fhir/Patient/{pid}/$everything", everything),
            Route("/fhir/Observation", observations),
            Route("/fhir/Encounter", encounters),
            Route("/fhir/Binary", xml),
        ]
    )
