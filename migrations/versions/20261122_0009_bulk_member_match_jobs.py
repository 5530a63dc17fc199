"""bulk member match jobs

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 12:00:00

PDex $bulk-member-match: a job row per request and a row per submitted member (its input until
it is matched, then its result). On PostgreSQL both tables get the tenant-isolation policy of
0006, and the worker finds due jobs across tenants through a SECURITY DEFINER function that
returns ids only (as 0006's queue-depth function returns counts only).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("bulk_match_job", "bulk_match_member")
_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "bulk_match_job",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("organization_system", sa.String(length=255), nullable=True),
        sa.Column("organization_value", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("not_matched", sa.Integer(), nullable=False),
        sa.Column("consent_constrained", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=48), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_match_job")),
    )
    with op.batch_alter_table("bulk_match_job", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bulk_match_job_status_created_at"), ["status", "created_at"]
        )

    op.create_table(
        "bulk_match_member",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("input", _JSON, nullable=True),
        sa.Column("result", sa.String(length=24), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("match_id", sa.String(length=36), nullable=True),
        sa.Column("token", sa.String(length=128), nullable=True),
        sa.Column("patient", _JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["bulk_match_job.id"],
            name=op.f("fk_bulk_match_member_job_id_bulk_match_job"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_bulk_match_member")),
    )

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:  # row-level security, as in 0006
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )
    # What needs a worker, across tenants: jobs to run (queued, or running under a lapsed lease)
    # and finished jobs past their retention. Ids and tenants only, no member data.
    op.execute(
        """
        CREATE FUNCTION identity_bulk_match_due(at timestamptz)
        RETURNS TABLE (id text, tenant_id text, due text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT id, tenant_id,
                   CASE WHEN status IN ('completed', 'failed') THEN 'expire' ELSE 'run' END
            FROM bulk_match_job
            WHERE status = 'queued'
               OR (status = 'running' AND (lease_until IS NULL OR lease_until < at))
               OR (status IN ('completed', 'failed') AND expires_at < at)
            ORDER BY created_at
            LIMIT 100
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION identity_bulk_match_due(timestamptz) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS identity_bulk_match_due(timestamptz)")
    # Dropping the tables drops their policies with them.
    op.drop_table("bulk_match_member")
    with op.batch_alter_table("bulk_match_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bulk_match_job_status_created_at"))
    op.drop_table("bulk_match_job")
