"""PostgreSQL: the application role's privileges.

The service connects as a role that owns nothing, so row-level security applies to it (owners
bypass it) and it holds only what it needs: audit events can be appended, never changed; policies
and clients are read, and written only by the owner's CLI.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

# table -> privileges for the application role; anything not listed gets nothing.
APP_PRIVILEGES: dict[str, str] = {
    "member": "SELECT, INSERT, UPDATE, DELETE",
    "coverage": "SELECT, INSERT, UPDATE, DELETE",
    "blocking_key": "SELECT, INSERT, UPDATE, DELETE",
    "match_decision": "SELECT, INSERT, UPDATE",
    "review_item": "SELECT, INSERT, UPDATE",
    "review_resolution": "SELECT, INSERT, UPDATE",  # a newer version marks the older superseded
    "remembered_decision": "SELECT, INSERT, UPDATE",  # an undo deactivates, never deletes
    "same_person_pair": "SELECT, INSERT, UPDATE",
    "learned_given_name": "SELECT, INSERT, UPDATE",  # deactivated, never deleted
    "duplicate_cluster": "SELECT, INSERT",  # `identity dedupe` finds; stewards settle the item
    "match_token": "SELECT, INSERT, UPDATE",  # revoked, never deleted
    "member_match_attempt": "SELECT, INSERT, DELETE",
    "member_match_request": "SELECT, INSERT",
    "consent_withdrawal": "SELECT, INSERT",  # a withdrawal is a record, never changed
    "bulk_match_job": "SELECT, INSERT, UPDATE, DELETE",
    "bulk_match_member": "SELECT, INSERT, UPDATE, DELETE",
    "idempotency_record": "SELECT, INSERT, UPDATE, DELETE",
    "client_assertion": "SELECT, INSERT, DELETE",
    "audit_event": "SELECT, INSERT",
    "audit_chain_head": "SELECT, INSERT, UPDATE",
    "api_client": "SELECT",
    "policy_version": "SELECT",
    "policy_activation": "SELECT",
    "token_introspection": "SELECT, INSERT",  # who introspected a token: written once, kept
    "steward_session": "SELECT, INSERT, UPDATE",  # ended, not deleted
    "steward_sign_in_link": "SELECT, INSERT, UPDATE",
    "client_webhook": "SELECT",  # registered by the owner's CLI
    "webhook_delivery": "SELECT, INSERT, UPDATE",  # the outbox: sent or failed, kept
    "rate_limit_bucket": "SELECT, INSERT, UPDATE, DELETE",  # ids only; full buckets deleted
    "member_change": "SELECT, INSERT",  # appended by migration 0023's triggers, as the writer
    "alembic_version": "SELECT",
    # A view (migration 0021) with its reader's rights: member's and coverage's row-level
    # security apply to it.
    "member_lifecycle": "SELECT",
}
APP_FUNCTIONS = (
    "identity_review_queue_depth()",
    "identity_bulk_match_due(timestamptz)",
    "identity_webhook_due(timestamptz)",
    "identity_review_open_age(timestamptz)",
    "identity_rate_take(text[], text[], double precision[], double precision[], boolean)",
)

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_app_role(engine: Engine, role: str) -> None:
    """Give `role` exactly the application's privileges (run as the tables' owner, after
    `identity db upgrade`; safe to repeat)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("roles and row-level security exist on PostgreSQL only")
    if not _ROLE.match(role):
        raise ValueError("a role name is lower-case letters, digits and underscores")
    with engine.begin() as conn:
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
        for table, privileges in APP_PRIVILEGES.items():
            conn.execute(text(f"GRANT {privileges} ON {table} TO {role}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
        for function in APP_FUNCTIONS:
            conn.execute(text(f"GRANT EXECUTE ON FUNCTION {function} TO {role}"))
