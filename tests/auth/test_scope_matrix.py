"""Every route declares who may call it. The route table is walked, so a new route without a
scope fails here before it can ship; then every protected route is probed over real HTTP with no
token, with every scope but its own, and with its own scope only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from identity.app import create_app
from identity.auth.dependencies import ANY_SCOPE
from identity.auth.dev import mint_dev_token
from identity.auth.scopes import ALL_SCOPES, SCOPE_MEANINGS
from identity.config import Settings
from identity.fhir.metadata_endpoints import PUBLIC_PATHS as FHIR_METADATA
from tests.conftest import TENANT, LiveServer

# Public by design, each for a reason: probes, discovery, the keys that verify our tokens, the
# token endpoint itself (authenticated by a client assertion), and the API description (served
# only when development auth is on).
PUBLIC = {
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/.well-known/smart-configuration",
    "/oauth/token",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
} | FHIR_METADATA  # the CapabilityStatement and OperationDefinitions, read before any token


def _scopes(dependant: Dependant) -> Iterator[str]:
    for dep in dependant.dependencies:
        scope = getattr(dep.call, "required_scope", None)
        if scope is not None:
            yield str(scope)
        yield from _scopes(dep)


def _flatten(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes, descending into included routers (FastAPI keeps them nested)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _flatten(original.routes)
        else:
            yield route


def route_scopes(settings: Settings) -> dict[tuple[str, str], str | None]:
    table: dict[tuple[str, str], str | None] = {}
    for route in _flatten(create_app(settings).routes):
        methods = getattr(route, "methods", None) or {"GET"}
        scopes = list(_scopes(route.dependant)) if isinstance(route, APIRoute) else []
        for method in methods - {"HEAD"}:
            table[(method, getattr(route, "path", ""))] = scopes[0] if scopes else None
    return table


# The stewards' workbench: pages for people, who sign in and hold a session (its role decides
# what they may do), not OAuth clients with scopes. Every one of them but the sign-in flow and the
# static files must refuse a caller without a session: probed below, route by route.
PERSON_PAGES = "/review"
PERSON_PAGES_OPEN = ("/review/sign-in", "/review/static/")


def test_every_route_declares_a_scope_or_is_deliberately_public(settings: Settings) -> None:
    undeclared = [
        f"{method} {path}"
        for (method, path), scope in route_scopes(settings).items()
        if scope is None and path not in PUBLIC and not path.startswith(PERSON_PAGES)
    ]
    assert not undeclared, f"routes without a scope: {undeclared}"
    assert not {p for (_, p), s in route_scopes(settings).items() if s and p in PUBLIC}


def test_every_scope_is_explained_in_one_sentence() -> None:
    assert set(SCOPE_MEANINGS) == set(SCOPE_MEANINGS.keys())
    assert {s.value for s in SCOPE_MEANINGS} == ALL_SCOPES
    for meaning in SCOPE_MEANINGS.values():
        assert meaning.endswith(".")
        assert meaning.count(". ") == 0


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", uuid.uuid4().hex, path)


def test_scope_matrix(live_server: LiveServer, settings: Settings) -> None:
    """route × (no token, every other scope, its own scope only)."""
    wrong: list[str] = []
    protected = {k: s for k, s in route_scopes(settings).items() if s is not None}
    assert len(protected) >= 4
    with live_server.client() as http:
        for (method, path), scope in sorted(protected.items()):
            url = _concrete(path)
            others = mint_dev_token(
                settings, tenant=TENANT, client_id="c", scopes=ALL_SCOPES - {scope}
            )
            # A route for every client of the tenant admits any one of our scopes.
            anyone = scope == ANY_SCOPE
            granted = {"metrics:read"} if anyone else {scope}
            own = mint_dev_token(settings, tenant=TENANT, client_id="c", scopes=granted)
            for label, token, expect_denied in (
                ("no token", None, 401),
                ("other scopes", others, None if anyone else 403),
                ("own scope", own, None),
            ):
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                r = http.request(method, url, headers=headers, json={})
                denied = r.status_code in (401, 403)
                if expect_denied is not None and r.status_code != expect_denied:
                    wrong.append(f"{method} {path} {label}: {r.status_code}, not {expect_denied}")
                if expect_denied is None and denied:
                    wrong.append(f"{method} {path} {label}: refused with {r.status_code}")
    assert not wrong, wrong


def test_every_person_page_refuses_a_caller_without_a_session(
    live_server: LiveServer, settings: Settings
) -> None:
    """A bearer token with every scope is no session: pages send it to sign in, forms refuse it."""
    token = mint_dev_token(settings, tenant=TENANT, client_id="c", scopes=ALL_SCOPES)
    pages = [
        (method, path)
        for (method, path) in route_scopes(settings)
        if path.startswith(PERSON_PAGES) and not path.startswith(PERSON_PAGES_OPEN)
    ]
    assert len(pages) >= 8
    wrong: list[str] = []
    with live_server.client() as http:
        for method, path in sorted(pages):
            r = http.request(
                method,
                _concrete(path),
                headers={"Authorization": f"Bearer {token}"},
                data={"csrf": "x"} if method == "POST" else None,
                follow_redirects=False,
            )
            to_sign_in = r.status_code == 303 and r.headers["location"].startswith(
                "/review/sign-in"
            )
            if not (to_sign_in if method == "GET" else r.status_code == 403):
                wrong.append(f"{method} {path}: {r.status_code}")
    assert not wrong, wrong
