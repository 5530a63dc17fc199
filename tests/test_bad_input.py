"""Bad input is a 4xx, never a 500 or a 503, on every POST route and both databases.

The corpus — nesting too deep, too many values, NUL and other control characters in ids and
names, the wrong media type, malformed path parameters — is sent over real HTTP to every route
that takes a body. Each answer is checked for its status and its shape (OperationOutcome under
/fhir, problem details under /v1); then that nothing was written, and that the server's log holds
no traceback and none of the submitted values. Oversized bodies are streamed chunked over a raw
socket and never finished: the answer (401 without a token, 413 with one) must come while the
body is still arriving, which proves it was refused as it streamed and, without a token, unread.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker

from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.errors import InvalidInput
from identity.http_body import CONTROL, check_json, parse_json
from identity.logging_setup import ExceptionTypeOnly, configure_logging, uvicorn_log_config
from tests.bulkmatch.conftest import bulk_request, member_bundle
from tests.conftest import TENANT, LiveServer
from tests.exchange.conftest import NEW_PAYER, member_match_body
from tests.factories import fhir_coverage, fhir_patient

CANARY = "Qxanthuvel"  # a submitted value that must never come back or reach the log
REVIEW_ITEM = "00000000-0000-4000-8000-000000000001"
WRITTEN = (
    "match_decision",
    "review_item",
    "match_token",
    "member_match_request",
    "member_match_attempt",
    "bulk_match_job",
    "bulk_match_member",
    "consent_withdrawal",
    "idempotency_record",
    "member",  # the admin API's enrolment changes
    "coverage",
    "blocking_key",
)


def _patient(**changes: Any) -> dict[str, Any]:
    patient = fhir_patient(CANARY, "Okonkwo", "1980-04-02", member_id="MBR" + CANARY)
    patient.update(changes)
    return patient


def _parameters(patient: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]}


@dataclass(frozen=True)
class Route:
    path: str
    # A well-formed body around a Patient (or, for routes without one, around a string field).
    body: Callable[[Any], Any]
    fhir: bool

    @property
    def media_type(self) -> str:
        return "application/fhir+json" if self.fhir else "application/json"


def _route_bodies() -> list[Route]:
    coverage = fhir_coverage("SUB" + CANARY)
    return [
        Route("/v1/match", lambda p: {"patient": p, "coverage": coverage}, fhir=False),
        Route("/fhir/Patient/$member-match", lambda p: member_match_body(p, coverage), fhir=True),
        Route("/fhir/Patient/$match", _parameters, fhir=True),
        Route(
            "/fhir/Group/$bulk-member-match",
            lambda p: bulk_request(member_bundle(p, coverage)),
            fhir=True,
        ),
        Route("/v1/consent-withdrawals", lambda v: {"member_id": v}, fhir=False),
        Route("/v1/members/enrolment-changes", lambda p: {"resources": [p]}, fhir=False),
        Route(
            f"/v1/review-items/{REVIEW_ITEM}/resolution",
            lambda v: {"resolution": "link", "member_id": v},
            fhir=False,
        ),
        Route(
            "/v1/gate-events",
            lambda v: {
                "interaction": "read",
                "allowed": True,
                "http_status": 200,
                "reason": "allowed",
                "token_id": v,
            },
            fhir=False,
        ),
    ]


ROUTES = _route_bodies()
PATIENT_ROUTES = {"/v1/match", "/fhir/Patient/$member-match", "/fhir/Patient/$match"}
PATIENT_ROUTES.add("/fhir/Group/$bulk-member-match")
PATIENT_ROUTES.add("/v1/members/enrolment-changes")


def _deep(levels: int) -> dict[str, Any]:
    ext: dict[str, Any] = {"url": "http://example.org/x", "valueString": CANARY}
    for _ in range(levels):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    return ext


def _bad(route: Route, case: str) -> Any:
    """The route's body carrying one kind of bad input, with the canary beside it."""
    patient_route = route.path in PATIENT_ROUTES
    if case == "deep":
        if patient_route:
            return route.body(_patient(extension=[_deep(120)]))
        body = route.body(CANARY)
        body["extension"] = [_deep(120)]
        return body
    if case == "many-values":
        many = [0] * 25_000
        if patient_route:
            return route.body(_patient(extension=many))
        body = route.body(CANARY)
        body["extension"] = many
        return body
    bad_char = {"nul-in-name": "\u0000", "bell-in-id": "\u0007", "escape-in-id": "\u001b"}[case]
    if not patient_route:
        return route.body(CANARY + bad_char + "1")
    if case == "nul-in-name":
        return route.body(_patient(name=[{"family": "Ok" + bad_char + CANARY, "given": ["Ann"]}]))
    identifier = [{"system": "http://example.org/ids", "value": CANARY + bad_char}]
    return route.body(_patient(identifier=identifier))


CASES = ["deep", "many-values", "nul-in-name", "bell-in-id", "escape-in-id"]


def _counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        tables = set(inspect(session.get_bind()).get_table_names()) & set(WRITTEN)
        return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def _assert_shape(route_path: str, r: httpx.Response, status: int) -> None:
    assert r.status_code == status, (route_path, r.status_code, r.text[:300])
    if route_path.startswith("/fhir"):
        assert r.headers["content-type"] == "application/fhir+json"
        assert r.json()["resourceType"] == "OperationOutcome"
    else:
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == status
    assert CANARY not in r.text


def _assert_clean_log(capfd: pytest.CaptureFixture[str]) -> None:
    """No traceback, no submitted value, no 5xx in what the server logged. The access-log line is
    written just after the answer is sent: read until the log stops growing."""
    logs = ""
    quiet = 0
    while quiet < 3:
        time.sleep(0.1)
        out, err = capfd.readouterr()
        quiet = quiet + 1 if not (out or err) else 0
        logs += out + err
    assert '"event": "request"' in logs  # the server's log was captured
    assert "Traceback" not in logs
    assert CANARY not in logs
    assert '"status": 500' not in logs
    assert '"status": 503' not in logs


@pytest.fixture
def everything(settings: Settings) -> str:
    return mint_dev_token(settings, tenant=TENANT, client_id="fuzzer", organization=NEW_PAYER)


@pytest.mark.parametrize("route", ROUTES, ids=[r.path for r in ROUTES])
def test_bad_bodies_are_422s_that_store_nothing_and_log_nothing(
    route: Route,
    tight_server: LiveServer,
    everything: str,
    sessions: sessionmaker[Session],
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = _counts(sessions)
    with tight_server.client(everything) as http:
        for case in CASES:
            content = json.dumps(_bad(route, case)).encode()
            r = http.post(route.path, content=content, headers={"Content-Type": route.media_type})
            _assert_shape(route.path, r, 422)
            pointers = [
                e.get("pointer") or "".join(e.get("expression", []))
                for e in r.json().get("errors", r.json().get("issue", []))
            ]
            assert pointers, (case, r.text)
        # The wrong media type is a 415, whatever the body.
        good = json.dumps(route.body(_patient() if route.path in PATIENT_ROUTES else "M1"))
        wrong = ["text/plain", "application/xml", "application/x-www-form-urlencoded"]
        if not route.fhir:
            wrong.append("application/fhir+json")
        for media_type in wrong:
            r = http.post(route.path, content=good, headers={"Content-Type": media_type})
            _assert_shape(route.path, r, 415)
        # Unless it is not JSON at all: then it is malformed, never parsed by anything else.
        r = http.post(route.path, content=b"\xff{", headers={"Content-Type": route.media_type})
        _assert_shape(route.path, r, 422)
    assert _counts(sessions) == before
    _assert_clean_log(capfd)


MALFORMED_PATHS = [
    ("GET", "/fhir/bulk-member-match-jobs/x/output/%C2%B3"),  # '³' is a digit to str.isdigit
    ("GET", "/fhir/bulk-member-match-jobs/%00"),
    ("GET", "/v1/matches/%00"),
    ("GET", "/v1/matches/a%07b"),
    ("GET", "/v1/review-items/%E2%80%AE1"),
    ("GET", "/fhir/member-match-requests/%00"),
    ("DELETE", "/fhir/bulk-member-match-jobs/%C2%B3"),
    ("POST", "/v1/review-items/%00/resolution"),
]


def test_malformed_path_parameters_are_404s(
    live_server: LiveServer, everything: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with live_server.client(everything) as http:
        for method, path in MALFORMED_PATHS:
            r = http.request(method, path, json={"resolution": "keep_apart"})
            _assert_shape(path, r, 404)
        # Query strings too: a NUL there would reach a query.
        r = http.get("/v1/review-items", params={"cursor": "a\u0000" + CANARY})
        _assert_shape("/v1/review-items", r, 422)
        r = http.get("/fhir/bulk-member-match-jobs/x/output/1")
        _assert_shape("/fhir", r, 404)
    _assert_clean_log(capfd)


def test_a_nul_in_a_client_assertion_is_not_an_outage(
    live_server: LiveServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """The token endpoint looks the claimed client up: on PostgreSQL a NUL there was a 503."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": "c\u0000" + CANARY, "sub": "c\u0000" + CANARY, "jti": "j1", "exp": 2**31}
    assertion = jwt.encode(claims, key, algorithm="RS384")
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": "match",
    }
    with live_server.client() as http:
        r = http.post("/oauth/token", data=form)
    assert 400 <= r.status_code < 500, r.text
    assert CANARY not in r.text
    _assert_clean_log(capfd)


def _raw_post(port: int, path: str, headers: dict[str, str], pieces: list[bytes]) -> bytes:
    """POST over a raw socket: the head, then `pieces` of the body, which is never finished; the
    answer must come anyway (or the server would wait for the rest of the body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: test\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        try:
            for piece in pieces:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: the rest was never read
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def _chunks(count: int, size: int) -> list[bytes]:
    piece = b'{"x": "' + b"a" * size + b'"}'
    return [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(count)]


@pytest.fixture
def tight_server(settings: Settings, active_policy: str) -> Iterator[LiveServer]:
    """The bulk route's limits brought near the others', so the same corpus reaches them."""
    tight = settings.model_copy(
        update={"bulk_match_max_body_bytes": 300 * 1024, "bulk_match_max_json_elements": 20_000}
    )
    with LiveServer(tight) as server:
        yield server


@pytest.mark.parametrize("route", ROUTES, ids=[r.path for r in ROUTES])
def test_bodies_are_bounded_while_they_stream_and_only_after_authentication(
    route: Route,
    tight_server: LiveServer,
    everything: str,
    sessions: sessionmaker[Session],
    capfd: pytest.CaptureFixture[str],
) -> None:
    port = tight_server.port
    before = _counts(sessions)
    chunked = {"Content-Type": route.media_type, "Transfer-Encoding": "chunked"}
    # No token: a 401 at once, the body never read (it never ends).
    anonymous = _raw_post(port, route.path, chunked, _chunks(4, 16 * 1024))
    assert anonymous.startswith(b"HTTP/1.1 401"), anonymous[:200]
    assert b"connection: close" in anonymous.lower()
    # A bad token likewise.
    bad = _raw_post(port, route.path, chunked | {"Authorization": "Bearer x.y.z"}, _chunks(2, 99))
    assert bad.startswith(b"HTTP/1.1 401"), bad[:200]
    # A valid token: read as it comes, refused once past the limit (256 kB; 300 kB here for the
    # bulk route), though the body never ends.
    authorised = {"Authorization": f"Bearer {everything}"}
    too_big = _raw_post(port, route.path, chunked | authorised, _chunks(6, 60 * 1024))
    assert too_big.startswith(b"HTTP/1.1 413"), too_big[:200]
    # A declared length over the limit: refused before a byte of the body is sent.
    declared = {"Content-Type": route.media_type, "Content-Length": "400000"} | authorised
    unread = _raw_post(port, route.path, declared, [])
    assert unread.startswith(b"HTTP/1.1 413"), unread[:200]
    # And the same over httpx, for the shape of the answer.
    with httpx.Client(base_url=tight_server.base_url, timeout=10, headers=authorised) as http:
        r = http.post(
            route.path,
            content=b"[" + b"0," * 200_000 + b"0]",
            headers={"Content-Type": route.media_type},
        )
    _assert_shape(route.path, r, 413)
    assert _counts(sessions) == before
    _assert_clean_log(capfd)


def test_unauthenticated_bodies_are_401s_before_anything_else(live_server: LiveServer) -> None:
    """401 first: not the 413, 415 or 422 a body would get from an authenticated caller."""
    with live_server.client() as http:
        for route in ROUTES:
            for content, media_type in [
                (b"{" * 200, route.media_type),
                (b"x" * 300_000, route.media_type),
                (b"{}", "text/plain"),
            ]:
                r = http.post(route.path, content=content, headers={"Content-Type": media_type})
                assert r.status_code == 401, (route.path, media_type, r.status_code)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": [1, 2, {"b": "ok\ttab\r\nnewline"}]}, None),
        ({"a": "x\u0000y"}, ("/a", "control")),
        ({"a": [{"b": "x\u009by"}]}, ("/a/0/b", "control")),
        ({"a": {"b\u0000": 1}}, ("/a", "control")),
        ({"Name With Space": ["x\u0001"]}, ("/*/0", "control")),
        (copy.deepcopy(_deep(40)), ("", "deeper")),
        (copy.deepcopy(_deep(15)), None),  # 31 levels: a dict and a list each
        ({"a": list(range(200))}, ("", "more than")),
        ({"a": list(range(140))}, None),
    ],
)
def test_the_walk_names_the_position_never_the_value(
    value: Any, problem: tuple[str, str] | None
) -> None:
    errors = check_json(value, max_depth=32, max_elements=150)
    raw = json.dumps(value).encode()
    if problem is None:
        assert errors == []
        assert parse_json(raw, max_depth=32, max_elements=150) == value
        return
    with pytest.raises(InvalidInput) as refused:  # the quick path agrees with the exact walk
        parse_json(raw, max_depth=32, max_elements=150)
    assert refused.value.errors == errors
    assert len(errors) == 1
    pointer, word = problem
    if pointer:
        assert errors[0].pointer == pointer
    assert word in errors[0].detail
    assert "x" not in errors[0].detail


@pytest.mark.parametrize("where", ["logger", "handler"])
def test_uvicorn_logs_an_exception_as_its_type_only(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """uvicorn logs 'Exception in ASGI application' with the traceback, whose text can quote a
    submitted value: only the exception's type may remain, whether the filter sits on uvicorn's
    logger (installed by the app's lifespan) or on its handlers (`identity serve`'s config)."""
    logger = logging.getLogger("uvicorn.error")
    if where == "logger":
        configure_logging()
        logger.addHandler(logging.StreamHandler())  # to the (captured) standard error
    else:
        logging.config.dictConfig(uvicorn_log_config())
        for f in [f for f in logger.filters if isinstance(f, ExceptionTypeOnly)]:
            logger.removeFilter(f)  # the handler's filter alone
    try:
        int("³" + CANARY)
    except ValueError:
        logger.exception("Exception in ASGI application\n")
    if where == "logger":
        logger.removeHandler(logger.handlers[-1])
    written = capsys.readouterr().err
    assert "Exception in ASGI application (ValueError)" in written
    assert "Traceback" not in written
    assert CANARY not in written


def test_every_control_character_is_refused_however_it_is_written() -> None:
    """The quick path skips the exact walk when the raw bytes show no control character: every
    one must show, escaped (json.dumps), written out (orjson) or in either case of hex."""
    refused = [c for c in range(0x100) if CONTROL.fullmatch(chr(c))]
    assert len(refused) == 29 + 1 + 32  # C0 but tab, LF, CR; DEL; C1
    for code in refused:
        for raw in (
            json.dumps({"k": f"a{chr(code)}b"}).encode(),
            json.dumps({"k": f"a{chr(code)}b"}).upper().replace("\\U", "\\u").encode(),
            json.dumps({"k": f"a{chr(code)}b"}, ensure_ascii=False).encode(),
            json.dumps({f"k{chr(code)}": 1}).encode(),
        ):
            with pytest.raises(InvalidInput):
                parse_json(raw, max_depth=8, max_elements=100)
    for allowed in ("\t", "\n", "\r", "\\u0000 as text", "é", "\u00a0"):
        raw = json.dumps({"k": allowed}).encode()
        assert parse_json(raw, max_depth=8, max_elements=100) == {"k": allowed}


def test_deeper_than_the_parser_goes_is_still_a_422() -> None:
    """orjson stops at depth 1024 by itself; that too is our 422, not a 500."""
    with pytest.raises(InvalidInput) as refused:
        parse_json(b"[" * 5000 + b"]" * 5000, max_depth=32, max_elements=100_000)
    assert "deeper than 32" in refused.value.errors[0].detail
