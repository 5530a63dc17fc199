"""review outcomes to callers: per-client webhooks and their deliveries

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 13:00:00

A decision remembers the client that asked (so that client may read its outcome back and hears
of its review's settlement); `client_webhook` holds each client's webhook URL and
`webhook_delivery` the outbox the webhook worker sends from. Both tenant-scoped (row-level
security as in 0006); the worker finds what is due across tenants through a SECURITY DEFINER
function that answers ids only. The metrics read the open queue's age the same way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SAME_TENANT = "tenant_id = current_setting('identity.tenant', true)"
_NEW_TABLES = ("client_webhook", "webhook_delivery")
_UNSETTLED = "status <> 'resolved'"
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("match_decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
    op.create_table(
        "client_webhook",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_client.client_id"],
            name=op.f("fk_client_webhook_client_id_api_client"),
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_webhook")),
    )
    op.create_index(op.f("ix_client_webhook_tenant_id"), "client_webhook", ["tenant_id"])
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=48), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_http_status", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=48), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    op.create_index(
        op.f("ix_webhook_delivery_status_next_attempt_at"),
        "webhook_delivery",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        op.f("ix_webhook_delivery_tenant_id_client_id_created_at"),
        "webhook_delivery",
        ["tenant_id", "client_id", "created_at"],
    )
    # The unsettled items alone, by tenant and age: the metrics' queue age and the lead page
    # read this small index, never the settled history.
    op.create_index(
        "ix_review_item_unsettled",
        "review_item",
        ["tenant_id", "created_at"],
        unique=False,
        sqlite_where=sa.text(_UNSETTLED),
        postgresql_where=sa.text(_UNSETTLED),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _NEW_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({_SAME_TENANT}) WITH CHECK ({_SAME_TENANT})"
        )
    # Deliveries due now (or whose attempt's lease lapsed), in every tenant: ids only.
    op.execute(
        """
        CREATE FUNCTION identity_webhook_due(at timestamptz)
        RETURNS TABLE (id text, tenant_id text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT id, tenant_id FROM webhook_delivery
            WHERE status = 'pending' AND next_attempt_at <= at
            ORDER BY next_attempt_at
            LIMIT 100
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION identity_webhook_due(timestamptz) FROM PUBLIC")
    # The unsettled queue by tenant and age bucket with its oldest item, for the metrics:
    # counts and a time only, no member data.
    op.execute(
        """
        CREATE FUNCTION identity_review_open_age(at timestamptz)
        RETURNS TABLE (tenant_id text, bucket text, n bigint, oldest timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
            SELECT tenant_id,
                   CASE WHEN created_at > at - interval '1 day' THEN '<1d'
                        WHEN created_at > at - interval '3 days' THEN '1-3d'
                        WHEN created_at > at - interval '7 days' THEN '3-7d'
                        ELSE '>7d' END,
                   count(*), min(created_at)
            FROM review_item WHERE status <> 'resolved'
            GROUP BY 1, 2
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION identity_review_open_age(timestamptz) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS identity_review_open_age(timestamptz)")
        op.execute("DROP FUNCTION IF EXISTS identity_webhook_due(timestamptz)")
    op.drop_index("ix_review_item_unsettled", table_name="review_item")
    # Dropping the tables drops their policies with them.
    op.drop_table("webhook_delivery")
    op.drop_table("client_webhook")
    with op.batch_alter_table("match_decision", schema=None) as batch_op:
        batch_op.drop_column("client_id")
