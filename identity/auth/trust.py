"""The issuers whose access tokens this service accepts, built once at start from settings:
itself (its token endpoint), the development key when enabled, and configured others."""

from __future__ import annotations

from jwt import PyJWKClient, PyJWKClientError
from jwt.api_jwk import PyJWK

from identity.auth.access_tokens import AccessTokenValidator, KeyLookup, TrustedIssuer
from identity.auth.keys import SigningKey, load_jwks_file, load_or_create_signing_key, public_keys
from identity.config import Settings, TrustedIssuerSettings

DEV_ISSUER = "urn:identity:dev"


def token_issuer(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def token_audience(settings: Settings) -> str:
    """Access tokens name this service's base URL as their audience (its resource indicator)."""
    return settings.public_url.rstrip("/")


def token_endpoint_url(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/oauth/token"


def _static(keys: dict[str, PyJWK]) -> KeyLookup:
    return keys.get


def _remote(url: str) -> KeyLookup:
    # Keys are cached and re-fetched when an unknown kid appears (key rotation upstream).
    client = PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)

    def lookup(kid: str) -> PyJWK | None:
        try:
            return client.get_signing_key(kid)
        except PyJWKClientError:
            return None

    return lookup


def _configured(issuer: TrustedIssuerSettings) -> TrustedIssuer:
    tenants = frozenset(issuer.tenants) if issuer.tenants is not None else None
    if issuer.jwks_file is not None:
        keys = _static(public_keys(load_jwks_file(issuer.jwks_file)))
    else:
        assert issuer.jwks_url is not None
        keys = _remote(issuer.jwks_url)
    return TrustedIssuer(issuer.issuer, keys, tenants)


def _own(key: SigningKey) -> KeyLookup:
    return _static(public_keys({"keys": [key.public_jwk()]}))


def build_validator(settings: Settings, own_key: SigningKey) -> AccessTokenValidator:
    issuers = [TrustedIssuer(token_issuer(settings), _own(own_key))]
    if settings.dev_auth:
        dev_key = load_or_create_signing_key(settings.dev_key_file)
        issuers.append(TrustedIssuer(DEV_ISSUER, _own(dev_key)))
    issuers.extend(_configured(i) for i in settings.trusted_issuers)
    return AccessTokenValidator(
        issuers,
        audience=token_audience(settings),
        max_token_bytes=settings.max_token_bytes,
        leeway_s=settings.clock_leeway_s,
        max_lifetime_s=settings.max_access_token_lifetime_s,
    )
