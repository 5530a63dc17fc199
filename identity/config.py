"""Settings: the one place that reads the environment (IDENTITY_* variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_rules_dir() -> Path:
    """`matching_rules/` beside the package in a checkout, else the working folder's."""
    checkout = Path(__file__).resolve().parent.parent / "matching_rules"
    return checkout if checkout.is_dir() else Path.cwd() / "matching_rules"


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
    max_body_bytes: int = 256 * 1024
    retry_after_s: int = 5

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


def load_settings() -> Settings:
    return Settings()
