"""`identity stewards`: people at the workbench (/review)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import typer

from identity.cli.common import fail, open_sessions
from identity.config import load_settings
from identity.db import bind_tenant, transaction
from identity.errors import IdentityError
from identity.review_ui import sessions as signin

stewards_app = typer.Typer(
    help="People at the stewards' workbench (/review).", no_args_is_help=True
)


@stewards_app.command("dev-login-url")
def dev_login_url(
    tenant: Annotated[str, typer.Option(help="The tenant the person works for")],
    user: Annotated[str, typer.Option(help="The person's user name (no PHI)")],
    role: Annotated[str, typer.Option(help="steward, lead or auditor")] = "steward",
) -> None:
    """Print a one-time sign-in URL (development installs only: IDENTITY_DEV_AUTH=true). It
    works once, for IDENTITY_REVIEW_SIGN_IN_LINK_S seconds; only a hash of it is stored."""
    settings = load_settings()
    if not settings.dev_auth:
        raise fail("sign-in links are for development installs (IDENTITY_DEV_AUTH=true)")
    sessions = open_sessions(settings)
    try:
        with transaction(sessions) as session:
            bind_tenant(session, tenant)
            token = signin.create_link(
                session,
                tenant=tenant,
                person=user,
                role=role,
                lifetime_s=settings.review_sign_in_link_s,
                now=datetime.now(UTC),
            )
    except IdentityError as exc:
        problems = "; ".join(f"{e.pointer.lstrip('/')}: {e.detail}" for e in exc.errors)
        raise fail(f"{exc}: {problems}") from exc
    base = settings.public_url.rstrip("/")
    typer.echo(f"{base}/review/sign-in/link?{urlencode({'token': token})}")
