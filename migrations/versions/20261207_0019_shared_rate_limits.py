"""rate limits shared by every service instance: token buckets in PostgreSQL

One row per (limit, key) holding the tokens left when it was last touched; `identity_rate_take`
refills, decides and takes for all of a request's limits in one statement (one round trip), under
row locks taken in the caller's order so two instances never take the same token twice. Keys are
client ids and tenant ids (no member data). A row whose bucket is full again behaves as no row, so
the function deletes a few of those now and then (`full_at` is indexed for that).

The table is UNLOGGED: a bucket is worth a few seconds of traffic, not a WAL flush per request
(measured: 8 ms per take durable, see benchmarks/RESULTS.md). After a crash the buckets start full;
a standby does not see them, so after a failover they start full too. Both only give callers back
at most one burst.

SQLite runs as one process by design and keeps its buckets in memory: nothing to create there.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 15:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SIGNATURE = "identity_rate_take(text[], text[], double precision[], double precision[], boolean)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE UNLOGGED TABLE rate_limit_bucket (
            name text NOT NULL,
            key text NOT NULL,
            tokens double precision NOT NULL,
            updated_at timestamptz NOT NULL,
            full_at timestamptz NOT NULL,
            PRIMARY KEY (name, key)
        )
        """
    )
    op.execute("CREATE INDEX rate_limit_bucket_full_at ON rate_limit_bucket (full_at)")
    # Returns the tokens each bucket held before this request (refilled to now); the request is
    # served when every one holds a whole token, and then one is taken from each. The database's
    # clock decides, so instances with drifting clocks still agree.
    op.execute(
        """
        CREATE FUNCTION identity_rate_take(
            names text[], keys text[], rates double precision[], bursts double precision[],
            consume boolean
        ) RETURNS double precision[]
        LANGUAGE plpgsql VOLATILE SET search_path = public AS $$
        DECLARE
            at timestamptz := clock_timestamp();
            found double precision[] := '{}';
            t double precision;
            served boolean := true;
        BEGIN
            FOR i IN 1 .. coalesce(array_length(names, 1), 0) LOOP
                IF consume THEN
                    -- The row must exist before it can be locked: two first requests for a key
                    -- would otherwise both start from a full bucket.
                    INSERT INTO rate_limit_bucket AS b (name, key, tokens, updated_at, full_at)
                    VALUES (names[i], keys[i], bursts[i], at, at)
                    ON CONFLICT (name, key) DO NOTHING;
                    SELECT least(bursts[i], b.tokens
                                 + greatest(0, extract(epoch FROM at - b.updated_at)) * rates[i])
                      INTO t FROM rate_limit_bucket b
                     WHERE b.name = names[i] AND b.key = keys[i] FOR UPDATE;
                ELSE
                    SELECT least(bursts[i], b.tokens
                                 + greatest(0, extract(epoch FROM at - b.updated_at)) * rates[i])
                      INTO t FROM rate_limit_bucket b
                     WHERE b.name = names[i] AND b.key = keys[i];
                END IF;
                t := coalesce(t, bursts[i]);
                found := found || t;
                IF t < 1 - 1e-9 THEN
                    served := false;
                END IF;
            END LOOP;
            IF consume THEN
                -- A refused request takes nothing: its buckets stay as they were.
                FOR i IN 1 .. CASE WHEN served THEN coalesce(array_length(names, 1), 0) ELSE 0 END
                LOOP
                    UPDATE rate_limit_bucket
                       SET tokens = found[i] - 1,
                           updated_at = at,
                           full_at = at
                               + make_interval(secs => (bursts[i] - found[i] + 1) / rates[i])
                     WHERE name = names[i] AND key = keys[i];
                END LOOP;
                -- Now and then, forget a few buckets that are full again (no row = a full bucket).
                IF random() < 0.01 THEN
                    DELETE FROM rate_limit_bucket
                     WHERE ctid IN (SELECT ctid FROM rate_limit_bucket WHERE full_at < at
                                    LIMIT 200 FOR UPDATE SKIP LOCKED);
                END IF;
            END IF;
            RETURN found;
        END
        $$
        """
    )
    op.execute(f"REVOKE ALL ON FUNCTION {_SIGNATURE} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute("DROP TABLE IF EXISTS rate_limit_bucket")
