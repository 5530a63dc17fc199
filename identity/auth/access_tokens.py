"""JWT access tokens (RFC 9068): minted by this service's token endpoint or the development CLI,
validated on every protected request.

The library's defaults are not trusted: the algorithm, `typ`, `aud`, `iss` and the required claims
are all checked here explicitly, and a token larger than a bound is refused before it is parsed.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import jwt
from jwt.api_jwk import PyJWK

from identity.auth.keys import ALLOWED_ALGORITHMS, OWN_ALGORITHM, SigningKey, key_matches_algorithm
from identity.auth.principal import Principal, is_tenant_id
from identity.auth.scopes import parse_scopes
from identity.clients.organization import OrgIdentifier, parse_org_identifier

ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# A validated token's principal is remembered this long at most (and never past its expiry):
# a client sends the same token with every request for its lifetime, and checking it again (three
# JWT parses and an RSA verification) was a few percent of a request. Keys are token digests.
REMEMBER_S = 60.0
REMEMBER_MAX = 4096
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "client_id", "jti", "tenant")
MAX_LIFETIME_S = 300  # the longest this service's own token endpoint issues
# The longest any issuer's token may live (exp - iat) unless configured otherwise: a token is a
# bearer credential, and one that lives for a year is a password nobody can rotate.
ACCEPTED_LIFETIME_S = 3600


class InvalidToken(Exception):
    """Why a token was refused. The reason is for logs and the 401's description; it never
    contains the token or its claims."""


# Key lookup for one issuer: key id -> key, or None when the issuer has no such key.
KeyLookup = Callable[[str], PyJWK | None]


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    issuer: str
    keys: KeyLookup
    # The tenants this issuer may speak for; None: any tenant with a well-formed id.
    tenants: frozenset[str] | None = None


def mint_access_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    client_id: str,
    tenant: str,
    scopes: Iterable[str],
    lifetime_s: int = MAX_LIFETIME_S,
    now: float | None = None,
    organization: OrgIdentifier | None = None,
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds (never more than five minutes)."""
    issued = int(now if now is not None else time.time())
    lifetime = min(lifetime_s, MAX_LIFETIME_S)
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": client_id,
        "client_id": client_id,
        "tenant": tenant,
        "scope": " ".join(sorted(set(scopes))),
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": uuid.uuid4().hex,
    }
    if organization is not None:
        claims["organization"] = str(organization)
    token = jwt.encode(
        claims,
        key.private_key,
        algorithm=OWN_ALGORITHM,
        headers={"typ": "at+jwt", "kid": key.kid},
    )
    return token, lifetime


class AccessTokenValidator:
    """Validates bearer tokens against the configured issuers and one audience."""

    def __init__(
        self,
        issuers: Iterable[TrustedIssuer],
        *,
        audience: str,
        max_token_bytes: int = 8192,
        leeway_s: int = 30,
        max_lifetime_s: int = ACCEPTED_LIFETIME_S,
    ) -> None:
        self._issuers: Mapping[str, TrustedIssuer] = {i.issuer: i for i in issuers}
        self._audience = audience
        self._max_bytes = max_token_bytes
        self._leeway = leeway_s
        self._max_lifetime = max_lifetime_s
        self._remembered: dict[bytes, tuple[float, Principal]] = {}
        self._lock = threading.Lock()  # validations run in worker threads

    def remembered(self, token: str) -> Principal | None:
        """The principal of a token validated within the last minute and not yet expired."""
        hit = self._remembered.get(hashlib.sha256(token.encode()).digest())
        return hit[1] if hit is not None and time.time() < hit[0] else None

    def validate(self, token: str) -> Principal:
        if len(token) > self._max_bytes:
            raise InvalidToken("the token is too large")
        digest = hashlib.sha256(token.encode()).digest()
        now = time.time()
        hit = self._remembered.get(digest)
        if hit is not None and now < hit[0]:
            return hit[1]
        principal, expires = self._validate(token)
        # PyJWT accepts a token until exp + leeway: no later than that, and at most a minute
        # (the longest a key withdrawn from an issuer's key set keeps a token of it valid here).
        self._remember(digest, min(expires + self._leeway, now + REMEMBER_S), principal, now)
        return principal

    def _remember(self, digest: bytes, until: float, principal: Principal, now: float) -> None:
        """Bounded: when full, the lapsed entries go, then the oldest (insertion order), so a
        burst of new tokens never makes every caller's token be checked again at once."""
        with self._lock:
            remembered = self._remembered
            if len(remembered) >= REMEMBER_MAX:
                for key in [k for k, (t, _) in remembered.items() if t <= now]:
                    del remembered[key]
                while len(remembered) >= REMEMBER_MAX:
                    del remembered[next(iter(remembered))]
            remembered[digest] = (until, principal)

    def _validate(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not a well-formed JWT") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise InvalidToken("the token's algorithm is not allowed")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("the token is not an access token (typ)")
        issuer = self._issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise InvalidToken("the token's issuer is not trusted")
        key = issuer.keys(str(header.get("kid", "")))
        if key is None:
            raise InvalidToken("the token's signing key is unknown")
        if not key_matches_algorithm(key, str(alg)):
            raise InvalidToken("the token's algorithm does not fit its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[str(alg)],
                audience=self._audience,
                issuer=issuer.issuer,
                leeway=self._leeway,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_aud": True,
                    "verify_iss": True,
                    "strict_aud": False,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("the token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("the token's issuer is not trusted") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the {exc.claim} claim") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token's signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not valid") from exc
        expires = _check_times(claims, self._max_lifetime)
        return _principal(claims, issuer), expires


def _numeric(value: object) -> bool:
    """A NumericDate (RFC 7519 §2) is a JSON number; PyJWT also takes "1999999999" via int()."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_times(claims: Mapping[str, object], max_lifetime_s: int) -> float:
    """exp, iat (and nbf when present) are numbers, and the token lives at most
    `max_lifetime_s` from its issue: PyJWT checks each time against the clock, not this."""
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _numeric(claims[name]):
            raise InvalidToken(f"the token's {name} is not a number")
    exp, iat = float(claims["exp"]), float(claims["iat"])  # type: ignore[arg-type]
    if exp - iat > max_lifetime_s:
        raise InvalidToken("the token's lifetime (exp - iat) is longer than this service accepts")
    if exp <= iat:
        raise InvalidToken("the token expires before it was issued")
    return exp


def _principal(claims: Mapping[str, object], trusted: TrustedIssuer) -> Principal:
    client_id, tenant, scope = claims.get("client_id"), claims.get("tenant"), claims.get("scope")
    if not isinstance(client_id, str) or not client_id or claims.get("sub") != client_id:
        raise InvalidToken("the token's client is not stated consistently")
    if not isinstance(tenant, str) or not tenant:
        raise InvalidToken("the token names no tenant")
    if not is_tenant_id(tenant):
        raise InvalidToken("the token's tenant is not a tenant id")
    if trusted.tenants is not None and tenant not in trusted.tenants:
        raise InvalidToken("the token's issuer may not speak for its tenant")
    if scope is not None and not isinstance(scope, str):
        raise InvalidToken("the token's scope is not a string")
    organization = None
    if claims.get("organization") is not None:
        try:
            organization = parse_org_identifier(str(claims["organization"]))
        except ValueError as exc:
            raise InvalidToken("the token's organization is not SYSTEM|VALUE") from exc
    return Principal(
        client_id=client_id,
        tenant=tenant,
        scopes=parse_scopes(scope or ""),
        token_id=str(claims.get("jti")),
        issuer=trusted.issuer,
        organization=organization,
    )
