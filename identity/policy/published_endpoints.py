"""GET /v1/policy: the tenant's active matching policy, published for the people who rely on it.

Any client of the tenant may read it (`any_client`): every caller is decided under this policy, so
each may know its thresholds, what goes to review and how long evidence is kept. It holds no
member data. It is not public: it is per tenant (the tenant comes from the token), and a payer's
rules and guards tell an anonymous prober how requests are judged.

JSON by default; an HTML page when the caller prefers `text/html` (a browser, or
`curl -H 'Accept: text/html'`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from identity.api_deps import PROBLEM, DbSession
from identity.auth.dependencies import AnyClient
from identity.policy.published import Terms
from identity.policy.published_html import render_html
from identity.policy.published_service import active_published

router = APIRouter(prefix="/v1", tags=["policy"])

# The page has no script, style or image of its own: nothing else may load.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
    "Vary": "Accept",
}


def _quality(accept: str, media: str) -> float:
    """The q-value the Accept header gives `media` (exact type, type/*, or */*)."""
    best, best_rank = 0.0, -1
    for item in accept.split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        major = media.split("/")[0]
        rank = {media: 2, f"{major}/*": 1, "*/*": 0}.get(kind.lower(), -1)
        if rank <= best_rank:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best, best_rank = q, rank
    return best


def wants_html(accept: str | None) -> bool:
    if not accept:
        return False
    return _quality(accept, "text/html") > _quality(accept, "application/json")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/html": {}}},
    404: PROBLEM,
}


@router.get(
    "/policy",
    responses=_RESPONSES,
    summary="The tenant's active matching policy: thresholds, review, evidence kept (any client)",
)
def get_policy(request: Request, caller: AnyClient, session: DbSession) -> Response:
    terms = Terms.from_settings(request.app.state.settings)
    published = active_published(session, caller.tenant, terms)
    if wants_html(request.headers.get("accept")):
        return HTMLResponse(render_html(published), headers=PAGE_HEADERS)
    return JSONResponse(published, headers={"Vary": "Accept"})
