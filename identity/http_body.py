"""The request boundary for untrusted input, as plain ASGI middleware in front of every route.

What a caller sends is bounded and checked here, once, before any route, model or database sees
it:

- the path, the query string and every JSON string hold no control characters (NUL, which
  PostgreSQL cannot store, included): a path is a 404 (no id of ours has one), the rest a 422;
- a body is read only for a caller whose access token validates (the token endpoint excepted):
  an unauthenticated request's body is withheld from the app, never read, and its route answers
  401 as it would to any request without a token;
- its media type is the route's (415): JSON under /v1, FHIR JSON or JSON under /fhir; the OAuth
  form routes check theirs themselves and answer in OAuth's shape;
- it is counted while it streams and refused with a 413 as soon as it passes its route's limit
  (a declared Content-Length over the limit is refused unread);
- JSON is parsed once (orjson, which stops at depth 1024 on its own), then walked iteratively for
  depth and number of values, and its raw bytes scanned for control characters (422), so no
  recursive model validation ever sees a hostile shape. Routes read the parsed value through
  `identity.api_deps.JsonBody`; the raw bytes are replayed to the app for routes whose body
  FastAPI validates itself.

Errors name the position (a JSON pointer whose unusual keys are masked), never a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio
import orjson
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity.auth.access_tokens import AccessTokenValidator, InvalidToken
from identity.config import Settings
from identity.errors import (
    FieldError,
    IdentityError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    error_response,
)

# C0 controls but tab, line feed and carriage return (FHIR strings allow those), DEL and the C1
# controls. NUL is the one PostgreSQL refuses; the others have no place in a name or an id.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What a control character can look like in raw JSON (overmatching only costs the exact walk).
CONTROL_IN_RAW = re.compile(
    rb"\\u00(?:0[0-8bcefBCEF]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])|\\[bf]|\x7f|\xc2[\x80-\x9f]"
)
# A path is printable ASCII: our routes and every id we issue are.
_PATH_OK = re.compile(r"[\x21-\x7e]*")
# Keys shown in a pointer as they are; any other key is masked (a key is submitted text too).
_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
FHIR_TYPES = frozenset({"application/fhir+json", "application/json"})
JSON_TYPES = frozenset({"application/json"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded"})
FORM_BYTES = 16 * 1024  # the OAuth forms: a client assertion or a token, with a few fields
PARSE_OFF_LOOP_BYTES = 1024 * 1024  # parse larger bodies in a worker thread
WITHHELD = "body_withheld"  # request.state: the body was not read (the caller is not authenticated)
PARSED = "json_body"  # request.state: the checked JSON value


@dataclass(frozen=True, slots=True)
class BodyRule:
    """What one route family accepts as a body."""

    limit: int
    media_types: frozenset[str] | None  # None: the route checks its own (the OAuth forms)
    max_elements: int = 0  # 0: not JSON
    public: bool = False  # no access token needed (the token endpoint)


def body_rule(settings: Settings, path: str) -> BodyRule | None:
    """The rule for a body sent to `path`, or None where no route takes one."""
    if path == "/oauth/token":
        return BodyRule(FORM_BYTES, None, public=True)
    if path.startswith("/v1/tokens/"):
        return BodyRule(FORM_BYTES, None)
    if path == "/fhir/Group/$bulk-member-match":
        return BodyRule(
            settings.bulk_match_max_body_bytes, FHIR_TYPES, settings.bulk_match_max_json_elements
        )
    if path.startswith("/fhir/"):
        return BodyRule(settings.max_body_bytes, FHIR_TYPES, settings.max_json_elements)
    if path.startswith("/v1/"):
        return BodyRule(settings.max_body_bytes, JSON_TYPES, settings.max_json_elements)
    if path.startswith("/review/"):
        # The workbench's forms: a person's session cookie (checked by the page, with its CSRF
        # token), not a bearer token, stands behind them.
        return BodyRule(FORM_BYTES, FORM_TYPES, public=True)
    return None


def _pointer(node: tuple[Any, ...] | None) -> str:
    parts: list[str] = []
    while node is not None:
        node, key = node
        if isinstance(key, int) or _PLAIN_KEY.fullmatch(key):
            parts.append(str(key))
        else:
            parts.append("*")
    return "/" + "/".join(reversed(parts)) if parts else ""


def check_json(value: Any, *, max_depth: int, max_elements: int) -> list[FieldError]:
    """Depth, number of values and control characters, walked without recursion; the first
    problem found (the walk stops there: a hostile body gets no more of our time)."""
    stack: list[tuple[Any, int, tuple[Any, ...] | None]] = [(value, 1, None)]
    seen = 0
    while stack:
        item, depth, node = stack.pop()
        seen += 1
        if seen > max_elements:
            return [FieldError("", f"more than {max_elements} values")]
        if isinstance(item, str):
            if CONTROL.search(item):
                return [FieldError(_pointer(node), "contains a control character")]
        elif isinstance(item, dict):
            if depth > max_depth:
                return [FieldError(_pointer(node), f"nested deeper than {max_depth} levels")]
            for key, child in item.items():
                if CONTROL.search(key):
                    return [FieldError(_pointer(node), "a name contains a control character")]
                stack.append((child, depth + 1, (node, key)))
        elif isinstance(item, list):
            if depth > max_depth:
                return [FieldError(_pointer(node), f"nested deeper than {max_depth} levels")]
            stack.extend((child, depth + 1, (node, i)) for i, child in enumerate(item))
    return []


def _within_bounds(value: Any, *, max_depth: int, max_elements: int) -> bool:
    """check_json's depth and count, without its pointers or strings: level by level, containers
    only, each counting its children at once (on a 10,000-member bulk body, a third of the time
    orjson takes to parse it)."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth, seen = 1, 1
    while level:
        if depth > max_depth:
            return False
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            seen += len(children)
            if seen > max_elements:
                return False
            for child in children:
                kind = type(child)
                if kind is dict or kind is list:
                    below.append(child)
        level, depth = below, depth + 1
    return True


def parse_json(raw: bytes, *, max_depth: int, max_elements: int) -> Any:
    """The body as a checked JSON value; InvalidInput naming the position otherwise.

    The exact walk (check_json, with pointers) runs only when the quick one finds the body out of
    bounds or the raw text may hold a control character: JSON can carry one only as an escape
    (`\\u0000`, `\\b`, `\\f`) or as DEL or a C1 character written out, all visible in the bytes."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        detail = (
            f"nested deeper than {max_depth} levels"
            if "depth" in str(exc)  # orjson's own limit (1024): deeper than ours anyway
            else f"malformed JSON at byte {exc.pos}"
        )
        raise InvalidInput("the body is not valid JSON", errors=[FieldError("", detail)]) from exc
    if _within_bounds(value, max_depth=max_depth, max_elements=max_elements) and not (
        CONTROL_IN_RAW.search(raw)
    ):
        return value
    errors = check_json(value, max_depth=max_depth, max_elements=max_elements)
    if errors:
        raise InvalidInput("the body is not acceptable", errors=errors)
    return value


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _query_error(scope: Scope) -> IdentityError | None:
    query = scope.get("query_string", b"").decode("latin-1")
    if not query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if CONTROL.search(name) or CONTROL.search(value):
            pointer = f"/query/{name}" if _PLAIN_KEY.fullmatch(name) else "/query"
            return InvalidInput(
                "the query string is not acceptable",
                errors=[FieldError(pointer, "contains a control character")],
            )
    return None


async def _authenticated(scope: Scope) -> bool:
    """Whether the bearer token validates (the route's own dependency then checks its scope and
    answers the 401 for one that does not); a recently validated token costs a lookup."""
    scheme, _, token = _header(scope, b"authorization").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    validator: AccessTokenValidator = scope["app"].state.token_validator
    if validator.remembered(token) is not None:
        return True
    try:
        await run_in_threadpool(validator.validate, token)
    except InvalidToken:
        return False
    return True


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, counted while it streams: refused as soon as it passes `limit`."""
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the real channel (which reports the client's disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _withheld() -> Receive:
    """An empty body in place of the one the unauthenticated caller sent, which stays unread."""
    return _replay(b"", _never)


async def _never() -> Message:
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


def _has_body(scope: Scope) -> bool:
    return _header(scope, b"content-length") not in ("", "0") or bool(
        _header(scope, b"transfer-encoding")
    )


def _close_after(send: Send) -> Send:
    """The answer closes the connection: the unread rest of the body is not worth reading."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return sending


class BodyGuard:
    """See the module docstring. Sits inside RequestContext (request id, access log)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not _PATH_OK.fullmatch(path):
            await self._refuse(scope, receive, send, NotFound("no such resource"))
            return
        query_error = _query_error(scope)
        if query_error is not None:
            await self._refuse(scope, receive, send, query_error)
            return
        settings: Settings = scope["app"].state.settings
        rule = body_rule(settings, path) if scope["method"] in BODY_METHODS else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if not rule.public and not await _authenticated(scope):
            state[WITHHELD] = True
            # The connection closes after the 401 unless there was no body to leave unread.
            unread = _has_body(scope)
            await self.app(scope, _withheld(), _close_after(send) if unread else send)
            return
        await self._guarded(scope, receive, send, rule, settings)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, rule: BodyRule, settings: Settings
    ) -> None:
        content_type = _header(scope, b"content-type").split(";", 1)[0].strip().lower()
        accepted_types = rule.media_types
        if accepted_types is not None and content_type not in accepted_types and _has_body(scope):
            accepted = " or ".join(sorted(accepted_types))
            err: IdentityError = UnsupportedMediaType(
                f"the body must be {accepted}",
                errors=[FieldError("/headers/Content-Type", "not an accepted media type")],
            )
            await self._refuse(scope, receive, _close_after(send), err)
            return
        try:
            raw = await _read(scope, receive, rule.limit)
        except _Disconnected:
            return
        except _TooLarge:
            await self._too_large(scope, receive, send, rule)
            return
        if rule.max_elements and raw:
            try:
                if len(raw) > PARSE_OFF_LOOP_BYTES:
                    parsed = await run_in_threadpool(_parse, raw, settings, rule)
                else:
                    parsed = _parse(raw, settings, rule)
            except InvalidInput as exc:
                await self._refuse(scope, receive, send, exc)
                return
            scope["state"][PARSED] = parsed
        await self.app(scope, _replay(raw, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, rule: BodyRule) -> None:
        if rule.media_types is None:  # an OAuth route: its clients read OAuth's error shape
            from identity.auth.endpoints import OAuthError

            response = OAuthError("invalid_request", "the request is too large", 413).response()
            await response(scope, receive, _close_after(send))
            return
        err = PayloadTooLarge(f"the body is larger than {rule.limit} bytes")
        await self._refuse(scope, receive, _close_after(send), err)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, err: IdentityError) -> None:
        request_id = str((scope.get("state") or {}).get("request_id", ""))
        response = error_response(err, path=str(scope["path"]), request_id=request_id)
        await response(scope, receive, send)


def _parse(raw: bytes, settings: Settings, rule: BodyRule) -> Any:
    return parse_json(raw, max_depth=settings.max_json_depth, max_elements=rule.max_elements)
