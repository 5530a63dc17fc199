"""Settings: the one place that reads the environment (IDENTITY_* variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_rules_dir() -> Path:
    """`matching_rules/` beside the package in a checkout, else the working folder's."""
    checkout = Path(__file__).resolve().parent.parent / "matching_rules"
    return checkout if checkout.is_dir() else Path.cwd() / "matching_rules"


class TrustedIssuerSettings(BaseModel):
    """Another authorisation server whose access tokens this service accepts."""

    issuer: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    # The tenants this issuer may mint tokens for (recommended); unset: any well-formed tenant id.
    tenants: list[str] | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedIssuerSettings:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("give exactly one of jwks_file and jwks_url")
        return self


class Settings(BaseSettings):
    """Service configuration; every field can be set as IDENTITY_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./identity.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    rules_dir: Path = Field(default_factory=_default_rules_dir)
    default_tenant: str = "sample-payer"
    log_level: str = "INFO"
    log_json: bool = True
    db_pool_size: int = 16
    db_connect_timeout_s: float = 3.0
    db_ping_after_idle_s: float = Field(
        default=0.5,
        ge=0,
        description="PostgreSQL: a pooled connection idle at least this long is pinged before "
        "use (0: every checkout); one used more recently is handed out as it is",
    )
    group_commit: bool = Field(
        default=True,
        description="Commit concurrent match requests' writes together, one transaction and one "
        "audit chain append per group, by one writer thread per process (false: each request "
        "commits its own transaction)",
    )
    match_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Worker threads a process lets match at once (POST /v1/match, Patient/$match); "
        "more wait their turn. Matching is Python holding the GIL: on few cores, more threads "
        "only take turns with it and add switching",
    )
    member_store: bool = Field(
        default=True,
        description="Answer candidate retrieval from an in-memory copy of each tenant's members' "
        "blocking keys and features (identity/member/store.py), kept exact by a change number "
        "that database triggers bump with every member or coverage write; SQL answers until it "
        "is built and whenever it is not current (false: always SQL)",
    )
    member_store_max_members: int = Field(
        default=2_000_000,
        ge=0,
        description="A tenant with more members is answered by SQL (its store would not fit)",
    )
    member_store_max_changes: int = Field(
        default=1000,
        ge=0,
        description="Members changed since a tenant's store was built that a request reads into it "
        "itself; past this the store is rebuilt in the background and SQL answers meanwhile",
    )
    member_store_recheck_s: float = Field(
        default=3600.0,
        ge=0,
        description="How often a tenant the member store refused (over "
        "IDENTITY_MEMBER_STORE_MAX_MEMBERS, or two keys sharing a hash) has its change number "
        "compared with the one it was refused at; once it moved, the store tries it again",
    )
    max_body_bytes: int = 256 * 1024
    max_json_depth: int = Field(
        default=32,
        ge=8,
        le=512,
        description="Deepest nesting of objects and arrays a JSON body may have (a FHIR request "
        "needs about 12); checked before any model sees the body",
    )
    max_json_elements: int = Field(
        default=20_000,
        ge=100,
        description="Most values (objects, arrays, strings, numbers…) one JSON body may hold",
    )
    retry_after_s: int = 5
    load_workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Processes that validate and standardise member lines beside the writer in "
        "`identity members load` (0: all in the loading process); used for files of "
        "10 MB or more",
    )

    # --- authentication (tokens, the token endpoint) ---
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The service's external base URL: issuer of its access tokens, audience they "
        "are minted for, and the base of the token endpoint named in client assertions",
    )
    signing_key_file: Path = Field(
        default=Path(".identity/signing-key.pem"),
        description="RSA key that signs the access tokens the token endpoint issues "
        "(created on first start when absent)",
    )
    dev_auth: bool = Field(
        default=False,
        description="Trust tokens signed by the local development key (`identity auth "
        "dev-token`). Never in production.",
    )
    dev_key_file: Path = Path(".identity/dev-key.pem")
    data_key_file: Path = Field(
        default=Path(".identity/data-key"),
        description="32-byte AES key sealing remembered answers (Idempotency-Key) at rest",
    )
    trusted_issuers: list[TrustedIssuerSettings] = Field(
        default_factory=list,
        description='Other authorisation servers, as JSON: [{"issuer": ..., "jwks_file": ...} '
        'or {"issuer": ..., "jwks_url": ...}]',
    )
    access_token_lifetime_s: int = Field(default=300, ge=30, le=300)
    max_token_bytes: int = 8192
    clock_leeway_s: int = Field(default=30, ge=0, le=120)
    max_access_token_lifetime_s: int = Field(
        default=3600,
        ge=300,
        le=24 * 3600,
        description="Longest lifetime (exp - iat) of an access token accepted from any issuer, "
        "this service included",
    )

    # --- Rate limits: token buckets per client and per tenant (identity/ratelimit.py) ---
    # A request takes a token from both buckets or from neither; a rate of 0 disables that limit.
    rate_limit_client_per_s: float = Field(
        default=50.0, ge=0, description="Sustained requests per second per client (0: no limit)"
    )
    rate_limit_client_burst: int = Field(
        default=100, ge=1, description="Requests a client may make at once (its bucket's size)"
    )
    rate_limit_tenant_per_s: float = Field(
        default=200.0,
        ge=0,
        description="Sustained requests per second per tenant, all its clients together (0: none)",
    )
    rate_limit_tenant_burst: int = Field(
        default=400, ge=1, description="Requests a tenant's clients may make at once, together"
    )
    rate_limit_store: Literal["auto", "memory", "database"] = Field(
        default="auto",
        description="Where the client and tenant buckets live (identity/ratelimit_store.py): "
        "'database' shares them between every instance on one PostgreSQL, 'memory' keeps them in "
        "this process; 'auto' is the database on PostgreSQL, memory on SQLite",
    )

    # --- Limits per source address, before authentication (identity/auth/source_limit.py) ---
    # The source is the connection's peer (behind a proxy: see uvicorn's FORWARDED_ALLOW_IPS).
    source_rate_per_s: float = Field(
        default=500.0,
        ge=0,
        description="Sustained requests per second from one source address, authenticated or "
        "not (0: no limit); generous, it only stops floods",
    )
    source_burst: int = Field(
        default=1000, ge=1, description="Requests one source may make at once"
    )
    source_failures_per_s: float = Field(
        default=0.5,
        ge=0,
        description="Failed authentications (401) per second a source may sustain; once its "
        "allowance is spent, every request of that source is refused (429) until it refills "
        "(0: no limit)",
    )
    source_failure_burst: int = Field(
        default=100, ge=1, description="Failed authentications a source may have at once"
    )
    denial_audit_window_s: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="Refusals of unauthenticated requests are audited as one event per source "
        "and status per window of this many seconds, with a count",
    )

    # --- payer-to-payer exchange ($member-match) ---
    require_consent: bool = Field(
        default=True,
        description="$member-match answers a match only with a Consent that can be honoured "
        "(HRex makes Consent optional; this service's policy requires it)",
    )
    match_token_lifetime_s: int = Field(
        default=90 * 24 * 3600,
        ge=60,
        description="Longest life of a match token (it also ends with its consent's period)",
    )
    member_match_max_cards: int = Field(
        default=3,
        ge=1,
        description="Distinct coverage ids one client may try with near-same demographics (the "
        "family name's sound and the birth date) within the window; beyond it, new ones are "
        "refused (429)",
    )
    member_match_window_s: int = Field(default=3600, ge=60)
    member_match_max_people_per_card: int = Field(
        default=3,
        ge=1,
        description="Distinct people (exact names and birth date) one client may try with the "
        "same coverage ids within member_match_window_s; beyond it, new ones are refused (429)",
    )

    # --- PDex $bulk-member-match (identity/bulkmatch/) ---
    bulk_match_max_members: int = Field(
        default=10_000, ge=1, description="MemberBundles one $bulk-member-match request may carry"
    )
    bulk_match_max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest $bulk-member-match body (its own limit: max_body_bytes is for single "
        "requests); about 5 kB per member, so 10,000 members fit",
    )
    bulk_match_max_json_elements: int = Field(
        default=4_000_000,
        ge=100,
        description="Most JSON values one $bulk-member-match body may hold (about 400 a member)",
    )
    bulk_match_worker: bool = Field(
        default=True,
        description="Run the bulk-match worker thread in this process (off: jobs wait for a "
        "process that runs one)",
    )
    bulk_match_batch_size: int = Field(
        default=250, ge=1, le=10_000, description="Most members matched per worker transaction"
    )
    bulk_match_batch_s: float = Field(
        default=1.0,
        gt=0,
        description="A worker transaction ends after this long even if its batch is not full "
        "(checked between slices of 250 members): on SQLite it holds the one write lock, and "
        "other requests wait for it",
    )
    bulk_match_helper_processes: int = Field(
        default=0,
        ge=0,
        le=8,
        description="Spawned processes that take a share of the bulk worker's deciding (rules, "
        "scores, evidence), for a machine with cores to spare; 0: the worker thread does it "
        "all, under the service process's GIL. Off by default: handing work over costs about "
        "0.2 ms of CPU per member, which a busy machine does not get back (benchmarks/RESULTS.md)",
    )
    bulk_match_lease_s: int = Field(
        default=60,
        ge=1,
        description="A running job whose worker has not renewed its lease for this long (it "
        "died) is resumed by another worker",
    )
    bulk_match_poll_s: float = Field(
        default=1.0, gt=0, description="How often an idle worker looks for jobs in the database"
    )
    bulk_match_output_page: int = Field(
        default=1000, ge=1, description="Members per output Parameters of a completed job"
    )
    bulk_match_retention_s: int = Field(
        default=24 * 3600,
        ge=60,
        description="How long a finished job's results (match tokens, Patient copies) are kept "
        "for collection before they are deleted",
    )

    # --- the review queue (identity/review/) ---
    review_claim_lease_s: int = Field(
        default=1800,
        ge=60,
        le=24 * 3600,
        description="How long a steward's claim on a review item lasts; past it the item reads "
        "as unclaimed again (claiming it again renews it)",
    )
    review_sla_hours: float = Field(
        default=72.0,
        gt=0,
        le=24 * 90,
        description="The tenant's service level for review items: open longer than this, an "
        "item is marked overdue",
    )

    # --- retention (identity purge, identity/retention/) ---
    retention_days: int = Field(
        default=365,
        ge=1,
        description="Days a decision keeps the demographics it was asked with (the query, the "
        "candidates' standardised records, the values compared); `identity purge` removes them "
        "after. A year outlasts the longest match token (90 days) and the 180 days a person has "
        "to file a HIPAA complaint, so a disputed disclosure can still be explained; HIPAA's "
        "six years apply to policies and the record of disclosures (the audit trail and the "
        "decision's ids, outcome and policy version, which stay), not to the request's "
        "demographics",
    )
    retention_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Decisions purged per transaction: each batch holds its locks (on SQLite "
        "the one write lock) only briefly",
    )

    # --- the stewards' workbench (/review, identity/review_ui/) ---
    oidc_issuer: str | None = Field(
        default=None,
        description="The payer's OpenID Connect provider that stewards sign in with (its "
        "/.well-known/openid-configuration is read); unset: no OIDC sign-in",
    )
    oidc_client_id: str | None = Field(default=None, description="This service's client id there")
    oidc_client_secret: str | None = Field(
        default=None, description="Its secret, for a confidential client (PKCE is always used)"
    )
    oidc_role_claim: str = Field(
        default="roles",
        description="The ID token claim holding the person's roles: steward, lead or auditor "
        "(a list or one string; no known role: refused)",
    )
    oidc_tenant_claim: str | None = Field(
        default=None, description="The ID token claim naming the person's tenant"
    )
    oidc_tenant: str | None = Field(
        default=None, description="The tenant of everyone who signs in (instead of a claim)"
    )
    review_idle_timeout_s: int = Field(
        default=900,
        ge=60,
        le=3600,
        description="A workbench session ends after this long without a request (HIPAA "
        "automatic logoff)",
    )
    review_session_max_s: int = Field(
        default=12 * 3600, ge=600, description="A session ends this long after sign-in anyway"
    )
    review_sign_in_link_s: int = Field(
        default=300, ge=30, le=3600, description="How long a development sign-in link stays usable"
    )

    # --- the Prometheus scrape and the service-level indicators (identity/observability/) ---
    metrics_token_sha256: str = Field(
        default="",
        pattern=r"^\s*([0-9a-fA-F]{64}\s*(,\s*[0-9a-fA-F]{64}\s*)*)?$",
        description="SHA-256 digests (hex, comma-separated) of static bearer tokens that may "
        "read /metrics and nothing else: a scraper cannot sign client assertions, so it holds "
        "a long-lived token; only its digest lives here. Two digests let a new token replace "
        "an old one; removing one revokes it",
    )
    sli_window_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 31,
        description="The service-level indicators (match, review and audit-trace rates, median "
        "time to resolution) cover the decisions and settlements of this many past hours",
    )
    sli_overturn_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="Automatic matches of this many past days are checked for a steward's later "
        "keep-apart or link to another member (the overturn rate)",
    )
    sli_refresh_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="The indicators are read from the database at most once per this many "
        "seconds per process (scrapes in between get the last reading)",
    )

    # --- review outcomes to callers: webhooks (identity/webhooks/) ---
    webhook_worker: bool = Field(
        default=True,
        description="Run the webhook delivery worker in this process (off: deliveries wait in "
        "the outbox for a process that runs it)",
    )
    webhook_poll_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often the webhook worker looks for due deliveries",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=30, description="One delivery attempt's bound (connect and answer)"
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=30, description="Attempts before a delivery is marked failed"
    )
    webhook_backoff_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="The first retry's wait; each later one doubles it (with jitter)",
    )
    webhook_backoff_max_s: float = Field(
        default=3600.0, gt=0, le=86400, description="The longest wait between two attempts"
    )


def load_settings() -> Settings:
    return Settings()
