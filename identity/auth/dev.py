"""Development access tokens, signed by a local key that the server trusts only when
IDENTITY_DEV_AUTH=true. They let a newcomer call the API without registering a client."""

from __future__ import annotations

from collections.abc import Iterable

from identity.auth.access_tokens import mint_access_token
from identity.auth.keys import load_or_create_signing_key
from identity.auth.scopes import ALL_SCOPES
from identity.auth.trust import DEV_ISSUER, token_audience
from identity.clients.organization import OrgIdentifier
from identity.config import Settings


def mint_dev_token(
    settings: Settings,
    *,
    tenant: str,
    client_id: str,
    scopes: Iterable[str] | None = None,
    organization: OrgIdentifier | None = None,
) -> str:
    key = load_or_create_signing_key(settings.dev_key_file)
    token, _ = mint_access_token(
        key,
        issuer=DEV_ISSUER,
        audience=token_audience(settings),
        client_id=client_id,
        tenant=tenant,
        scopes=ALL_SCOPES if scopes is None else scopes,
        lifetime_s=settings.access_token_lifetime_s,
        organization=organization,
    )
    return token
