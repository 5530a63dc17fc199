"""/review/policy: the tenant's active matching policy, for the people who work the queue.

The same content as GET /v1/policy's page (identity/policy/published_html.py), inside the
workbench's frame, for any signed-in person of the tenant: stewards settle what the policy sends to
review, so they should read what it says and how fast it wants it settled.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from identity.api_deps import DbSession
from identity.policy.published import Terms
from identity.policy.published_html import render_body
from identity.policy.published_service import active_published
from identity.review_ui import sessions as signin
from identity.review_ui.web import common, page, render

router = APIRouter(prefix="/review", include_in_schema=False)


@router.get("/policy", response_class=HTMLResponse)
def policy_page(request: Request, session: DbSession) -> Response:
    def build(person: signin.Person) -> Response:
        terms = Terms.from_settings(request.app.state.settings)
        published = active_published(session, person.tenant, terms)
        return render(
            "policy.html",
            **common(person),
            version=published["version"],
            body=render_body(published),
        )

    return page(request, session, build)
