"""The audit actor of an HTTP request: the authenticated client, its tenant, the request id."""

from __future__ import annotations

from fastapi import Request

from identity.audit.actor import Actor
from identity.auth.principal import Principal


def request_actor(request: Request, principal: Principal) -> Actor:
    """The id is the one the RequestContext middleware answers with in X-Request-ID."""
    request_id = getattr(request.state, "request_id", None)
    return Actor(tenant=principal.tenant, client_id=principal.client_id, request_id=request_id)
