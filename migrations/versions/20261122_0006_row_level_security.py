"""row-level security on tenant-scoped tables (PostgreSQL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:00:00

Every tenant-scoped table admits only rows whose tenant_id equals the transaction's
`identity.tenant` setting (set by the service from the validated token). Owners bypass RLS, so
migrations and the owner's CLI are unaffected; the service runs as a role that owns nothing.
SQLite has no roles: there, isolation rests on every query naming its tenant.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "member",
    "coverage",
    "blocking_key",
    "match_decision",
    "review_item",
    "idempotency_record",
    "audit_event",
    "audit_chain_head",
    "policy_activation",
)
_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )
    # Queue depth for the metrics, across tenants: counts only, no member data.
    op.execute(
        """
        CREATE FUNCTION identity_review_queue_depth()
        RETURNS TABLE (tenant_id text, status text, n bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT tenant_id, status, count(*) FROM review_item GROUP BY tenant_id, status
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION identity_review_queue_depth() FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS identity_review_queue_depth()")
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
