"""The workbench's pages under /review: sign-in, the queue, an item, remembered decisions, the
lead page. Thin: each page reads the signed-in person, calls identity.review's services and
renders a template; the request's transaction commits at the edge (identity.api_deps)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from identity.api_deps import DbSession
from identity.audit import service as audit
from identity.db import bind_tenant
from identity.errors import Forbidden, IdentityError
from identity.logging_setup import get_logger
from identity.review import service as review
from identity.review import stats
from identity.review.roles import Role
from identity.review_ui import present
from identity.review_ui import sessions as signin
from identity.review_ui.oidc import PENDING_COOKIE, PENDING_S, Provider, SignInRefused

log = get_logger("identity.review_ui")
HERE = Path(__file__).resolve().parent
router = APIRouter(prefix="/review", include_in_schema=False)
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
DONE = {
    "link": "Linked. The next request with the same details gets this member without review.",
    "keep_apart": "Kept apart. The next request with the same details will not be matched to "
    "that member.",
    "new_person": "Settled as a new person: no member.",
    "same_person": "Marked the same person. Matching now answers with the surviving member.",
    "not_same_person": "Same-person marking undone.",
    "escalate": "Escalated to a lead.",
    "claim": "You hold this item.",
    "release": "Released: the item is back in the queue.",
    "undo": "Remembered decision undone: the next request is matched afresh.",
    "assign": "Assigned.",
}
DECIDERS = frozenset({"steward", "lead"})
QUEUE_PAGE = 50  # rows per queue page
MEMBER_KINDS = frozenset({"link", "keep_apart", "same_person", "not_same_person"})
PAIR_KINDS = frozenset({"same_person", "not_same_person"})


def _now() -> datetime:
    return datetime.now(UTC)


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def _loopback_http(request: Request) -> bool:
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


def _set_cookie(request: Request, response: Response, name: str, value: str, **kw: Any) -> None:
    response.set_cookie(
        name,
        value,
        path="/review",
        httponly=True,
        secure=not _loopback_http(request),
        **kw,
    )


def _person(request: Request, session: Session) -> signin.Person | None:
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
        now=_now(),
    )
    request.state.review_person = person
    return person


def _to_sign_in(request: Request) -> Response:
    ended = "1" if request.cookies.get(signin.COOKIE) else ""
    response = RedirectResponse("/review/sign-in" + ("?ended=1" if ended else ""), 303)
    if ended:
        response.delete_cookie(signin.COOKIE, path="/review")
    return response


def _actor(request: Request, person: signin.Person) -> Any:
    return person.actor(getattr(request.state, "request_id", None))


def _page(
    request: Request,
    session: Session,
    build: Callable[[signin.Person], Response],
    *,
    csrf: str | None = None,
    post: bool = False,
) -> Response:
    """Sign-in, CSRF and errors, the same for every page: a service's refusal renders as a page
    with its status, the transaction rolled back."""
    person = _person(request, session)
    if person is None:
        if post:
            session.commit()  # an idle session's end is kept
            return _render("error.html", 403, message="Your session has ended; sign in again.")
        session.commit()
        return _to_sign_in(request)
    if post and not signin.csrf_ok(person, csrf):
        session.rollback()
        return _render(
            "error.html", 403, person=person, message="This form has expired; open the page again."
        )
    try:
        return build(person)
    except IdentityError as err:
        session.rollback()
        if err.status >= 500:
            raise
        problems = [f"{e.pointer.lstrip('/') or 'form'}: {e.detail}" for e in err.errors]
        return _render("error.html", err.status, person=person, message=str(err), problems=problems)


def _lease(request: Request, person: signin.Person) -> dict[str, Any]:
    """The person's role and the tenant's claim lease, for the claim services."""
    return {"role": Role(person.role), "lease_s": request.app.state.settings.review_claim_lease_s}


def _common(person: signin.Person, **context: Any) -> dict[str, Any]:
    return {"person": person, "csrf": person.csrf, **context}


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
        return _render("error.html", 404, message="No such file.")
    media_type, body = found
    return Response(body, media_type=media_type)


# --- sign-in ---


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, ended: Annotated[str | None, Query()] = None) -> Response:
    settings = request.app.state.settings
    return _render(
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
        return _render(
            "error.html", 404, message="Sign-in with an identity provider is not set up."
        )
    try:
        url, pending = provider.begin(request.app.state.sealer, _callback_url(request))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the provider reads the same
        log.warning("oidc_unreachable", error=type(exc).__name__)
        return _render("error.html", 503, message="The sign-in provider cannot be reached.")
    response = RedirectResponse(url, 303)
    # Lax: the provider's redirect back is a cross-site top-level GET that must carry it.
    _set_cookie(request, response, PENDING_COOKIE, pending, samesite="lax", max_age=PENDING_S)
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
        response = _render("error.html", 403, message=f"Sign-in refused: {message}.")
        response.delete_cookie(PENDING_COOKIE, path="/review")
        return response
    bind_tenant(session, who.tenant)
    cookie = signin.start(
        session, tenant=who.tenant, person=who.person, role=who.role, how="oidc", now=_now()
    )
    # A page that moves on by itself, not a redirect: the session cookie is SameSite=Strict, and
    # a redirect chain that began at the provider is cross-site, so it would not carry it.
    response = _render("signed_in.html")
    response.delete_cookie(PENDING_COOKIE, path="/review")
    _set_cookie(request, response, signin.COOKIE, cookie, samesite="strict")
    return response


@router.get("/sign-in/link")
def dev_link(
    request: Request, session: DbSession, token: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """A one-time development sign-in link (`identity stewards dev-login-url`)."""
    if not request.app.state.settings.dev_auth:
        return _render("error.html", 404, message="No such page.")
    parts = signin.split_cookie(token)
    if parts is None:
        return _render("error.html", 403, message="This sign-in link is not valid.")
    bind_tenant(session, parts[0])
    now = _now()
    found = signin.redeem_link(session, token, now=now)
    if found is None:
        return _render("error.html", 403, message="This sign-in link was used or has expired.")
    tenant, person, role = found
    cookie = signin.start(session, tenant=tenant, person=person, role=role, how="dev-link", now=now)
    response = RedirectResponse("/review", 303)
    _set_cookie(request, response, signin.COOKIE, cookie, samesite="strict")
    return response


@router.post("/sign-out")
def sign_out(
    request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    def build(person: signin.Person) -> Response:
        signin.end(session, request.cookies.get(signin.COOKIE), now=_now())
        response = RedirectResponse("/review/sign-in", 303)
        response.delete_cookie(signin.COOKIE, path="/review")
        return response

    return _page(request, session, build, csrf=csrf, post=True)


# --- the queue ---


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: DbSession,
    reason: Annotated[str | None, Query(max_length=48)] = None,
    age: Annotated[str | None, Query(max_length=8)] = None,
    claim: Annotated[str | None, Query(max_length=16)] = None,
    policy: Annotated[str | None, Query(max_length=120)] = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    filters = review.QueueFilters(
        reason=reason or None,
        age_bucket=age or None,
        claim=claim or None,
        policy_version=policy or None,
    )

    def build(person: signin.Person) -> Response:
        page = review.queue(
            session,
            _actor(request, person),
            filters,
            cursor=after or None,
            limit=QUEUE_PAGE,
            now=_now(),
            sla_hours=request.app.state.settings.review_sla_hours,
        )
        kept = {
            k: v
            for k, v in (("reason", reason), ("age", age), ("claim", claim), ("policy", policy))
            if v
        }
        next_url = (
            "/review?" + urlencode({**kept, "after": page.next_cursor})
            if page.next_cursor
            else None
        )
        return _render(
            "queue.html",
            **_common(person),
            page=page,
            filters=filters,
            next_url=next_url,
            first_url="/review?" + urlencode(kept) if after else None,
            buckets=list(stats.AGE_BUCKETS),
            done=DONE.get(done or ""),
            can_decide=person.role in DECIDERS,
        )

    return _page(request, session, build)


@router.post("/next")
def take_next(
    request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    def build(person: signin.Person) -> Response:
        item = review.claim_next(
            session, _actor(request, person), now=_now(), **_lease(request, person)
        )
        if item is None:
            return RedirectResponse("/review?done=", 303)
        return RedirectResponse(f"/review/items/{item.id}?done=claim", 303)

    return _page(request, session, build, csrf=csrf, post=True)


# --- an item ---


def _rule_sentences(request: Request, session: Session, policy_version: str) -> dict[str, str]:
    try:
        matcher = request.app.state.matchers.for_version(session, policy_version)
    except Exception:  # noqa: BLE001 - a policy that cannot be read leaves the rule names alone
        return {}
    document = matcher.policy.document
    rules = document.rules
    named = [*rules.positive, *rules.negative, *document.guards]
    return {r.name: " ".join(r.description.split()) for r in named}


def _item_response(
    request: Request,
    session: Session,
    person: signin.Person,
    item_id: str,
    *,
    reveal: bool,
    done: str | None,
) -> Response:
    actor = _actor(request, person)
    detail = review.item_detail(session, actor, item_id)
    if reveal:
        audit.record(
            session,
            actor,
            action="review.reveal",
            outcome="success",
            object_type="review_item",
            object_ids=[detail.item.id],
            policy_version=detail.item.policy_version,
        )
    evidence = detail.evidence
    view = _candidates_view(evidence, reveal=reveal)
    return _render(
        "item.html",
        **_common(person),
        item=detail.item,
        detail=detail,
        query=view["query"],
        candidates=view["candidates"],
        fields=view["fields"],
        sentences=_rule_sentences(request, session, detail.item.policy_version),
        history=review.history(session, actor, item_id),
        reveal=reveal,
        done=DONE.get(done or ""),
        can_decide=person.role in DECIDERS,
        is_lead=person.role == "lead",
        now=_now(),
    )


def _candidates_view(evidence: dict[str, Any], *, reveal: bool) -> dict[str, Any]:
    """The query and each candidate, one row per compared field, values masked unless revealed."""
    candidates = [c for c in evidence.get("candidates", []) if isinstance(c, dict)]
    order: list[str] = []
    for c in candidates:
        for f in (c.get("score") or {}).get("fields", []):
            if f["comparison"] not in order:
                order.append(f["comparison"])
    query_values: dict[str, str] = {}
    out = []
    for c in candidates:
        score = c.get("score") or {}
        by_field = {f["comparison"]: f for f in score.get("fields", [])}
        cells: dict[str, dict[str, Any] | None] = {}
        for name in order:
            f = by_field.get(name)
            if f is None:
                cells[name] = None
                continue
            left = present.mask(name, present.flat(f.get("left")), reveal)
            right = present.mask(name, present.flat(f.get("right")), reveal)
            query_values.setdefault(name, left)
            weight = float(f.get("weight") or 0.0)
            cells[name] = {
                "value": present.marked_difference(left, right),
                "level": present.level_words(str(f.get("label", ""))),
                "label": f.get("label", ""),
                "weight": weight,
                "bar": present.weight_bar(weight),
                "differs": bool(left and right and left != right),
            }
        fired_negative = [
            r["rule"] for r in c.get("rules", []) if r.get("kind") == "negative" and r.get("fired")
        ]
        fired_positive = [
            r["rule"] for r in c.get("rules", []) if r.get("kind") == "positive" and r.get("fired")
        ]
        out.append(
            {
                "member_id": c.get("member_id"),
                "status": c.get("status"),
                "probability": score.get("probability"),
                "cells": cells,
                "negative": fired_negative,
                "positive": fired_positive,
                "waterfall": present.waterfall(score) if score else None,
                "guards": [g["guard"] for g in c.get("guards", []) if not g.get("held", True)],
                "steward": c.get("steward_decision"),
            }
        )
    return {
        "query": query_values,
        "candidates": out,
        "fields": [(name, present.FIELDS.get(name, name.replace("_", " "))) for name in order],
    }


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(
    item_id: str,
    request: Request,
    session: DbSession,
    done: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    return _page(
        request,
        session,
        lambda p: _item_response(request, session, p, item_id, reveal=False, done=done),
    )


@router.post("/items/{item_id}/reveal", response_class=HTMLResponse)
def reveal_item(
    item_id: str, request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    """SSN and full birth date shown: a deliberate click, audited with the person's name."""
    return _page(
        request,
        session,
        lambda p: _item_response(request, session, p, item_id, reveal=True, done=None),
        csrf=csrf,
        post=True,
    )


@router.post("/items/{item_id}/claim")
def claim_item(
    item_id: str, request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    def build(person: signin.Person) -> Response:
        review.claim(
            session, _actor(request, person), item_id, now=_now(), **_lease(request, person)
        )
        return RedirectResponse(f"/review/items/{item_id}?done=claim", 303)

    return _page(request, session, build, csrf=csrf, post=True)


@router.post("/items/{item_id}/release")
def release_item(
    item_id: str, request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    def build(person: signin.Person) -> Response:
        review.release(
            session, _actor(request, person), item_id, now=_now(), role=Role(person.role)
        )
        return RedirectResponse("/review?done=release", 303)

    return _page(request, session, build, csrf=csrf, post=True)


@router.post("/items/{item_id}/assign")
def assign_item(
    item_id: str,
    request: Request,
    session: DbSession,
    csrf: Annotated[str | None, Form()] = None,
    to_person: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    def build(person: signin.Person) -> Response:
        review.assign(
            session,
            _actor(request, person),
            item_id,
            to_person=to_person,
            now=_now(),
            **_lease(request, person),
        )
        return RedirectResponse(f"/review/items/{item_id}?done=assign", 303)

    return _page(request, session, build, csrf=csrf, post=True)


@router.post("/items/{item_id}/decide")
def decide_item(
    item_id: str,
    request: Request,
    session: DbSession,
    csrf: Annotated[str | None, Form()] = None,
    kind: Annotated[str, Form(max_length=24)] = "",
    member_id: Annotated[str | None, Form(max_length=64)] = None,
    other_member_id: Annotated[str | None, Form(max_length=64)] = None,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    next_item: Annotated[str | None, Form(max_length=4)] = None,
) -> Response:
    def build(person: signin.Person) -> Response:
        actor = _actor(request, person)
        # One form serves every kind: keep only the fields the chosen kind takes.
        decision = review.StewardDecision(
            kind=kind,
            member_id=(member_id or None) if kind in MEMBER_KINDS else None,
            other_member_id=(other_member_id or None) if kind in PAIR_KINDS else None,
            note=(note or "").strip() or None,
        )
        review.decide(session, actor, item_id, decision, role=Role(person.role), now=_now())
        if next_item:
            following = review.claim_next(session, actor, now=_now(), **_lease(request, person))
            if following is not None:
                return RedirectResponse(f"/review/items/{following.id}?done={kind}", 303)
            return RedirectResponse(f"/review?done={kind}", 303)
        return RedirectResponse(f"/review/items/{item_id}?done={kind}", 303)

    return _page(request, session, build, csrf=csrf, post=True)


# --- remembered decisions ---


@router.get("/members/{member_id}/remembered", response_class=HTMLResponse)
def remembered_page(
    member_id: str,
    request: Request,
    session: DbSession,
    done: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    def build(person: signin.Person) -> Response:
        rows = review.remembered(session, _actor(request, person), member_id=member_id)
        return _render(
            "remembered.html",
            **_common(person),
            member_id=member_id,
            rows=rows,
            done=DONE.get(done or ""),
            can_decide=person.role in DECIDERS,
        )

    return _page(request, session, build)


@router.post("/remembered/{remembered_id}/undo")
def undo_remembered(
    remembered_id: str,
    request: Request,
    session: DbSession,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    def build(person: signin.Person) -> Response:
        row = review.undo_remembered(
            session, _actor(request, person), remembered_id, role=Role(person.role), now=_now()
        )
        return RedirectResponse(f"/review/members/{row.member_id}/remembered?done=undo", 303)

    return _page(request, session, build, csrf=csrf, post=True)


# --- the lead page ---


@router.get("/lead", response_class=HTMLResponse)
def lead_page(request: Request, session: DbSession) -> Response:
    def build(person: signin.Person) -> Response:
        if person.role not in ("lead", "auditor"):
            raise Forbidden("the lead page is for leads and auditors")
        summary = stats.lead_summary(
            session,
            person.tenant,
            now=_now(),
            sla_hours=request.app.state.settings.review_sla_hours,
        )
        return _render("lead.html", **_common(person), summary=summary)

    return _page(request, session, build)
