"""Security headers on every workbench response (pages, redirects, errors, static files).

Added by the request-context middleware (identity/request_context.py), which already rewrites
every response's headers once: a layer of its own cost every request a call and a closure."""

from __future__ import annotations

PREFIX = "/review"
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_NAMES = frozenset(name for name, _ in HEADERS)


def is_review_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def with_review_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The response's headers with ours, replacing any of the same name."""
    return [*(h for h in headers if h[0].lower() not in _NAMES), *HEADERS]
