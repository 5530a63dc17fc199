"""What every workbench page shares: templates, the signed-in person (bound to their tenant, so
row-level security finds their rows), CSRF, and errors rendered as pages."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from identity.audit.actor import Actor
from identity.db import bind_tenant
from identity.errors import IdentityError
from identity.review_ui import present
from identity.review_ui import sessions as signin

HERE = Path(__file__).resolve().parent
templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals.update(
    reason_sentence=present.reason_sentence,
    kind_sentence=present.kind_sentence,
    level_words=present.level_words,
    age_words=present.age_words,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def loopback_http(request: Request) -> bool:
    """Plain http to a loopback address (a development install): the only place the session
    cookie goes without `Secure`, since browsers drop Secure cookies set over http elsewhere."""
    if request.url.scheme == "https":
        return False
    host = request.url.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_cookie(request: Request, response: Response, name: str, value: str, **kw: Any) -> None:
    response.set_cookie(
        name,
        value,
        path="/review",
        httponly=True,
        secure=not loopback_http(request),
        **kw,
    )


def current_person(request: Request, session: Session) -> signin.Person | None:
    cookie = request.cookies.get(signin.COOKIE)
    parts = signin.split_cookie(cookie)
    if parts is None:
        return None
    bind_tenant(session, parts[0])
    settings = request.app.state.settings
    person = signin.resume(
        session,
        cookie,
        idle_s=settings.review_idle_timeout_s,
        max_s=settings.review_session_max_s,
        now=utc_now(),
    )
    request.state.review_person = person
    return person


def to_sign_in(request: Request) -> Response:
    ended = "1" if request.cookies.get(signin.COOKIE) else ""
    response = RedirectResponse("/review/sign-in" + ("?ended=1" if ended else ""), 303)
    if ended:
        response.delete_cookie(signin.COOKIE, path="/review")
    return response


def actor_of(request: Request, person: signin.Person) -> Actor:
    return person.actor(getattr(request.state, "request_id", None))


def page(
    request: Request,
    session: Session,
    build: Callable[[signin.Person], Response],
    *,
    csrf: str | None = None,
    post: bool = False,
) -> Response:
    """Sign-in, CSRF and errors, the same for every page: a service's refusal renders as a page
    with its status, the transaction rolled back."""
    person = current_person(request, session)
    if person is None:
        if post:
            session.commit()  # an idle session's end is kept
            return render("error.html", 403, message="Your session has ended; sign in again.")
        session.commit()
        return to_sign_in(request)
    if post and not signin.csrf_ok(person, csrf):
        session.rollback()
        return render(
            "error.html", 403, person=person, message="This form has expired; open the page again."
        )
    try:
        return build(person)
    except IdentityError as err:
        session.rollback()
        if err.status >= 500:
            raise
        problems = [f"{e.pointer.lstrip('/') or 'form'}: {e.detail}" for e in err.errors]
        return render("error.html", err.status, person=person, message=str(err), problems=problems)


def common(person: signin.Person, **context: Any) -> dict[str, Any]:
    return {"person": person, "csrf": person.csrf, **context}
