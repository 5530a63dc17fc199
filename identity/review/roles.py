"""Who may do what at the review queue: a steward works items, a lead also assigns them and
settles escalations, an auditor only reads."""

from __future__ import annotations

from enum import StrEnum

from identity.audit.actor import Actor
from identity.auth.principal import Principal
from identity.auth.scopes import Scope
from identity.errors import IdentityError


class Role(StrEnum):
    STEWARD = "steward"
    LEAD = "lead"
    AUDITOR = "auditor"


class RoleForbidden(IdentityError):
    """The person's role does not allow the operation (an auditor deciding, a steward settling
    an escalated item): 403, nothing changed."""

    status = 403
    code = "forbidden"
    title = "Your role does not allow this operation"


def role_of_client(principal: Principal) -> Role:
    """An OAuth client with `review` acts as a steward; with `admin` too, as a lead."""
    return Role.LEAD if principal.has(Scope.ADMIN) else Role.STEWARD


def who(actor: Actor) -> str:
    """The name a claim or a decision is recorded under: the signed-in person, or the client
    (prefixed, so a person and a client of the same name are never confused)."""
    if actor.person:
        return actor.person
    return f"client:{actor.client_id or '-'}"


def may_decide(role: Role) -> None:
    if role is Role.AUDITOR:
        raise RoleForbidden("an auditor reads review items but does not decide them")
