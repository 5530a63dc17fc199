"""The scopes a client can hold, one per kind of operation, each explainable in one sentence.

Least privilege: a payer's exchange workflow needs `match` only; a FHIR server needs
`tokens:introspect` only; nothing but an operator's tool needs `admin`. `members:search` is
stronger than `match`: its answer carries the candidates' own demographics, not only their ids.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    MATCH = "match"
    MEMBERS_SEARCH = "members:search"
    DECISIONS_READ = "decisions:read"
    REVIEW = "review"
    TOKENS_INTROSPECT = "tokens:introspect"
    TOKENS_REVOKE = "tokens:revoke"
    CONSENTS_MANAGE = "consents:manage"
    AUDIT_READ = "audit:read"
    METRICS_READ = "metrics:read"
    ADMIN = "admin"


SCOPE_MEANINGS: dict[Scope, str] = {
    Scope.MATCH: "Ask who, among the tenant's members, a set of demographics describes.",
    Scope.MEMBERS_SEARCH: (
        "Search the tenant's members by demographics and read the candidates' stored records."
    ),
    Scope.DECISIONS_READ: "Read a stored decision with its candidates and per-field evidence.",
    Scope.REVIEW: "List, read and settle the review queue's items, as a data steward does.",
    Scope.TOKENS_INTROSPECT: "Check whether a match token is active, as a FHIR server does.",
    Scope.TOKENS_REVOKE: (
        "Revoke match tokens: a holder its own; with tokens:introspect or admin, any of the "
        "tenant's."
    ),
    Scope.CONSENTS_MANAGE: (
        "Record that a member withdrew consent, which revokes every match token issued for them."
    ),
    Scope.AUDIT_READ: "Export the tenant's audit trail.",
    Scope.METRICS_READ: "Scrape the service's operational metrics (no member data).",
    Scope.ADMIN: "Administer the tenant's policies and registered clients.",
}

ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)


def parse_scopes(text: str) -> frozenset[str]:
    """A space-separated scope string (RFC 6749 §3.3) as a set; unknown scopes are kept so the
    caller can refuse them by name."""
    return frozenset(part for part in text.split(" ") if part)
