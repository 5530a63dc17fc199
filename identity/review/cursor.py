"""The queue's keyset cursor: (created_at, id) of the last item of a page, opaque to callers."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson

from identity.errors import FieldError, InvalidInput
from identity.models import ReviewItem


def encode_cursor(item: ReviewItem) -> str:
    raw = orjson.dumps([item.created_at.isoformat(), item.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, item_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(item_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(
            "the cursor is not one this service gave out",
            errors=[FieldError("/cursor", "invalid cursor")],
        ) from exc
