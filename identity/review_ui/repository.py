"""SQL for workbench sessions and development sign-in links (always by tenant and hash)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import SignInLink, StewardSession


def add(session: Session, row: StewardSession | SignInLink) -> None:
    session.add(row)
    session.flush()


def get_session(session: Session, tenant: str, id_hash: str) -> StewardSession | None:
    return session.scalars(
        select(StewardSession).where(
            StewardSession.tenant_id == tenant, StewardSession.id_hash == id_hash
        )
    ).one_or_none()


def get_link_for_update(session: Session, tenant: str, code_hash: str) -> SignInLink | None:
    return session.scalars(
        select(SignInLink)
        .where(SignInLink.tenant_id == tenant, SignInLink.code_hash == code_hash)
        .with_for_update()
    ).one_or_none()
