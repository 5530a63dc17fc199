"""The workbench's pages under /review: the queue, an item, remembered decisions, the lead page.
Thin: each page reads the signed-in person, calls identity.review's services and renders a
template; the request's transaction commits at the edge (identity.api_deps)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from identity.api_deps import DbSession
from identity.audit import service as audit
from identity.errors import Forbidden
from identity.review import service as review
from identity.review import stats
from identity.review.roles import Role
from identity.review_ui import present
from identity.review_ui import sessions as signin
from identity.review_ui.web import actor_of, common, page, render, utc_now

router = APIRouter(prefix="/review", include_in_schema=False)
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


def _lease(request: Request, person: signin.Person) -> dict[str, Any]:
    """The person's role and the tenant's claim lease, for the claim services."""
    return {"role": Role(person.role), "lease_s": request.app.state.settings.review_claim_lease_s}


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
            actor_of(request, person),
            filters,
            cursor=after or None,
            limit=QUEUE_PAGE,
            now=utc_now(),
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
        return render(
            "queue.html",
            **common(person),
            page=page,
            filters=filters,
            next_url=next_url,
            first_url="/review?" + urlencode(kept) if after else None,
            buckets=list(stats.AGE_BUCKETS),
            done=DONE.get(done or ""),
            can_decide=person.role in DECIDERS,
        )

    return page(request, session, build)


@router.post("/next")
def take_next(
    request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    def build(person: signin.Person) -> Response:
        item = review.claim_next(
            session, actor_of(request, person), now=utc_now(), **_lease(request, person)
        )
        if item is None:
            return RedirectResponse("/review?done=", 303)
        return RedirectResponse(f"/review/items/{item.id}?done=claim", 303)

    return page(request, session, build, csrf=csrf, post=True)


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
    actor = actor_of(request, person)
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
    view = present.candidates_view(evidence, reveal=reveal)
    return render(
        "item.html",
        **common(person),
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
        now=utc_now(),
    )


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(
    item_id: str,
    request: Request,
    session: DbSession,
    done: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    return page(
        request,
        session,
        lambda p: _item_response(request, session, p, item_id, reveal=False, done=done),
    )


@router.post("/items/{item_id}/reveal", response_class=HTMLResponse)
def reveal_item(
    item_id: str, request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    """SSN and full birth date shown: a deliberate click, audited with the person's name."""
    return page(
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
            session, actor_of(request, person), item_id, now=utc_now(), **_lease(request, person)
        )
        return RedirectResponse(f"/review/items/{item_id}?done=claim", 303)

    return page(request, session, build, csrf=csrf, post=True)


@router.post("/items/{item_id}/release")
def release_item(
    item_id: str, request: Request, session: DbSession, csrf: Annotated[str | None, Form()] = None
) -> Response:
    def build(person: signin.Person) -> Response:
        review.release(
            session, actor_of(request, person), item_id, now=utc_now(), role=Role(person.role)
        )
        return RedirectResponse("/review?done=release", 303)

    return page(request, session, build, csrf=csrf, post=True)


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
            actor_of(request, person),
            item_id,
            to_person=to_person,
            now=utc_now(),
            **_lease(request, person),
        )
        return RedirectResponse(f"/review/items/{item_id}?done=assign", 303)

    return page(request, session, build, csrf=csrf, post=True)


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
    other_member_ids: Annotated[list[str] | None, Form(max_length=100)] = None,
) -> Response:
    def build(person: signin.Person) -> Response:
        actor = actor_of(request, person)
        # One form serves every kind: keep only the fields the chosen kind takes. A cluster's
        # form ticks every record; the one chosen as survivor is not paired with itself.
        others = [m for m in other_member_ids or () if m and m != member_id]
        decision = review.StewardDecision(
            kind=kind,
            member_id=(member_id or None) if kind in MEMBER_KINDS else None,
            other_member_id=(other_member_id or None) if kind in PAIR_KINDS else None,
            note=(note or "").strip() or None,
            other_member_ids=tuple(others) if kind == "same_person" else (),
        )
        review.decide(session, actor, item_id, decision, role=Role(person.role), now=utc_now())
        if next_item:
            following = review.claim_next(session, actor, now=utc_now(), **_lease(request, person))
            if following is not None:
                return RedirectResponse(f"/review/items/{following.id}?done={kind}", 303)
            return RedirectResponse(f"/review?done={kind}", 303)
        return RedirectResponse(f"/review/items/{item_id}?done={kind}", 303)

    return page(request, session, build, csrf=csrf, post=True)


# --- remembered decisions ---


@router.get("/members/{member_id}/remembered", response_class=HTMLResponse)
def remembered_page(
    member_id: str,
    request: Request,
    session: DbSession,
    done: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    def build(person: signin.Person) -> Response:
        rows = review.remembered(session, actor_of(request, person), member_id=member_id)
        return render(
            "remembered.html",
            **common(person),
            member_id=member_id,
            rows=rows,
            done=DONE.get(done or ""),
            can_decide=person.role in DECIDERS,
        )

    return page(request, session, build)


@router.post("/remembered/{remembered_id}/undo")
def undo_remembered(
    remembered_id: str,
    request: Request,
    session: DbSession,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    def build(person: signin.Person) -> Response:
        row = review.undo_remembered(
            session, actor_of(request, person), remembered_id, role=Role(person.role), now=utc_now()
        )
        return RedirectResponse(f"/review/members/{row.member_id}/remembered?done=undo", 303)

    return page(request, session, build, csrf=csrf, post=True)


# --- the lead page ---


@router.get("/lead", response_class=HTMLResponse)
def lead_page(request: Request, session: DbSession) -> Response:
    def build(person: signin.Person) -> Response:
        if person.role not in ("lead", "auditor"):
            raise Forbidden("the lead page is for leads and auditors")
        summary = stats.lead_summary(
            session,
            person.tenant,
            now=utc_now(),
            sla_hours=request.app.state.settings.review_sla_hours,
        )
        return render("lead.html", **common(person), summary=summary)

    return page(request, session, build)
