"""The FHIR front door: GET /fhir/metadata (the CapabilityStatement) and
GET /fhir/OperationDefinition/{id}.

Public, as FHIR servers make them: a client reads them before it holds a token, to learn what the
server does and where to get one. They say nothing about members or tenants. The operations listed
are those whose routes this app mounts, each with the scope its route declares.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from identity import __version__
from identity.auth.endpoints import smart_configuration
from identity.errors import NotFound
from identity.fhir.capability import Mounted, capability_statement
from identity.fhir.operations import OPERATIONS, Limits, find_operation, operation_definition

router = APIRouter(prefix="/fhir", tags=["FHIR metadata"])

FHIR_JSON = "application/fhir+json"
_RESOURCE: dict[Any, Any] = {"content": {FHIR_JSON: {}}}
PUBLIC_PATHS = frozenset({"/fhir/metadata", "/fhir/OperationDefinition/{operation_id}"})


def _flatten(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        original = getattr(route, "original_router", None)
        yield from _flatten(original.routes) if original is not None else (route,)


def _scope(dependant: Dependant) -> str | None:
    for dep in dependant.dependencies:
        scope = getattr(dep.call, "required_scope", None)
        if scope is not None:
            return str(scope)
        found = _scope(dep)
        if found is not None:
            return found
    return None


def mounted_operations(routes: Sequence[BaseRoute]) -> list[Mounted]:
    """The operations whose implementing route is mounted, with the scope it requires."""
    scopes = {
        route.path: _scope(route.dependant)
        for route in _flatten(routes)
        if isinstance(route, APIRoute) and "POST" in (route.methods or ())
    }
    return [Mounted(op, scope) for op in OPERATIONS if (scope := scopes.get(op.route)) is not None]


def _base_url(request: Request) -> str:
    return str(request.app.state.settings.public_url).rstrip("/")


def _limits(request: Request) -> Limits:
    settings = request.app.state.settings
    return Limits(settings.require_consent, settings.bulk_match_max_members)


@router.get(
    "/metadata",
    responses={200: _RESOURCE},
    summary="The CapabilityStatement: the operations served and how to get a token (public)",
)
def metadata(request: Request) -> JSONResponse:
    statement = capability_statement(
        mounted_operations(request.app.routes),
        base_url=_base_url(request),
        software_version=__version__,
        smart=smart_configuration(request),
        today=datetime.now(UTC).date(),
    )
    return JSONResponse(statement, media_type=FHIR_JSON)


@router.get(
    "/OperationDefinition/{operation_id}",
    responses={200: _RESOURCE, 404: _RESOURCE},
    summary="An operation's definition: its parameters as this server accepts them (public)",
)
def get_operation_definition(request: Request, operation_id: str) -> JSONResponse:
    operation = find_operation(operation_id)
    mounted = {m.operation.id for m in mounted_operations(request.app.routes)}
    if operation is None or operation.id not in mounted:
        raise NotFound("no such OperationDefinition")
    definition = operation_definition(
        operation, base_url=_base_url(request), version=__version__, limits=_limits(request)
    )
    return JSONResponse(definition, media_type=FHIR_JSON)
