"""Signing in and out of the workbench, and its two static files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from identity.api_deps import DbSession
from identity.db import bind_tenant
from identity.errors import IdentityError
from identity.logging_setup import get_logger
from identity.review_ui import sessions as signin
from identity.review_ui.oidc import PENDING_COOKIE, PENDING_S, Provider, SignInRefused
from identity.review_ui.web import HERE, page, render, set_cookie, utc_now

log = get_logger("identity.review_ui")
router = APIRouter(prefix="/review", include_in_schema=False)


# --- the two static files (served by the service: no CDN, no build step) ---

STATIC = {
    "app.css": ("text/css; charset=utf-8", (HERE / "static" / "app.css").read_bytes()),
    "app.js": ("text/javascript; charset=utf-8", (HERE / "static" / "app.js").read_bytes()),
}


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """A fixed list, read once at import: nothing else under /review/static exists."""
    found = STATIC.get(name)
    if found is None:
        return render("error.html", 404, message="No such file.")
    media_type, body = found
    return Response(body, media_type=media_type)


# --- sign-in ---


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, ended: Annotated[str | None, Query()] = None) -> Response:
    settings = request.app.state.settings
    return render(
        "sign_in.html",
        oidc=_provider(request).enabled,
        dev=settings.dev_auth,
        ended=ended == "1",
        idle_min=settings.review_idle_timeout_s // 60,
    )


def _provider(request: Request) -> Provider:
    state = request.app.state
    provider = getattr(state, "review_oidc", None)
    if provider is None:
        provider = state.review_oidc = Provider(state.settings)
    return provider


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get("/sign-in/oidc")
def oidc_begin(request: Request) -> Response:
    provider = _provider(request)
    if not provider.enabled:
        return render("error.html", 404, message="Sign-in with an identity provider is not set up.")
    try:
        url, pending = provider.begin(request.app.state.sealer, _callback_url(request))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the provider reads the same
        log.warning("oidc_unreachable", error=type(exc).__name__)
        return render("error.html", 503, message="The sign-in provider cannot be reached.")
    response = RedirectResponse(url, 303)
    # Lax: the provider's redirect back is a cross-site top-level GET that must carry it.
    set_cookie(request, response, PENDING_COOKIE, pending, samesite="lax", max_age=PENDING_S)
    return response


@router.get("/sign-in/callback", name="oidc_callback")
def oidc_callback(
    request: Request,
    session: DbSession,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=256)] = "",
) -> Response:
    provider = _provider(request)
    try:
        who = provider.finish(
            request.app.state.sealer,
            request.cookies.get(PENDING_COOKIE),
            code=code,
            state=state,
            redirect_uri=_callback_url(request),
        )
        signin.check_person(who.tenant, who.person, who.role)
    except (SignInRefused, IdentityError) as exc:
        log.info("oidc_refused", reason=type(exc).__name__)
        message = str(exc) if isinstance(exc, SignInRefused) else "your account cannot sign in"
        response = render("error.html", 403, message=f"Sign-in refused: {message}.")
        response.delete_cookie(PENDING_COOKIE, path="/review")
        return response
    bind_tenant(session, who.tenant)
    cookie = signin.start(
        session, tenant=who.tenant, person=who.person, role=who.role, how="oidc", now=utc_now()
    )
    # A page that moves on by itself, not a redirect: the session cookie is SameSite=Strict, and
    # a redirect chain that began at the provider is cross-site, so it would not carry it.
    response = render("signed_in.html")
    response.delete_cookie(PENDING_COOKIE, path="/review")
    set_cookie(request, response, signin.COOKIE, cookie, samesite="strict")
    return response


@router.get("/sign-in/link")
def dev_link(
    request: Request, session: DbSession, token: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """A one-time development sign-in link (`identity stewards dev-login-url`)."""
    if not request.app.state.settings.dev_auth:
        return render("error.html", 404, message="No such page.")
    parts = signin.split_cookie(token)
    if parts is None:
        return render("error.html", 403, message="This sign-in link is not valid.")
    bind_tenant(session, parts[0])
    at = utc_now()
    found = signin.redeem_link(session, token, now=at)
    if found is None:
        return render("error.html", 403, message="This sign-in link was used or has expired.")
    tenant, person, role = found
    cookie = signin.start(session, tenant=tenant, person=person, role=role, how="dev-link", now=at)
    response = RedirectResponse("/review", 303)
    set_cookie(request, response, signin.COOKIE, cookie, samesite="strict")
    return response


@router.post("/sign-out")
def sign_out(
    request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    def build(person: signin.Person) -> Response:
        signin.end(session, request.cookies.get(signin.COOKIE), now=utc_now())
        response = RedirectResponse("/review/sign-in", 303)
        response.delete_cookie(signin.COOKIE, path="/review")
        return response

    return page(request, session, build, csrf=csrf, post=True)
