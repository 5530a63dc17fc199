"""`identity gate`: run the reference enforcement point in front of a FHIR server;
`identity gate-jwks`: print the public key set to register for it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from identity.auth.keys import UnusableKey
from identity.cli.common import fail
from identity.gate.identity_client import load_gate_key

KeyFile = Annotated[
    Path,
    typer.Option(
        "--key-file",
        exists=True,
        dir_okay=False,
        help="The gate's private key (PEM, RSA or EC P-384); register its public half.",
    ),
]
KeyId = Annotated[
    str | None,
    typer.Option("--key-id", help="The key id registered for it (default: its thumbprint)."),
]


def gate(
    upstream: Annotated[str, typer.Option("--upstream", help="The FHIR server's base URL.")],
    identity_url: Annotated[str, typer.Option("--identity-url", help="Where identity is reached.")],
    client_id: Annotated[
        str,
        typer.Option("--client-id", help="The gate's registered client (scope tokens:introspect)."),
    ],
    key_file: KeyFile,
    key_id: KeyId = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    audience: Annotated[
        str | None,
        typer.Option(help="The audience callers' access tokens name (default: identity's issuer)."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="The gate's external base URL, for links in Bundles."),
    ] = None,
) -> None:
    """Serve the FHIR server at --upstream to callers holding an access token from identity and
    a match token (header X-Match-Token) issued to them: one member's compartment only, within
    the member's consent. Every decision is audited in identity."""
    import uvicorn

    from identity.gate.proxy import GateConfig, create_gate
    from identity.logging_setup import uvicorn_log_config

    try:
        load_gate_key(key_file, key_id)  # a bad key fails here, with its message
    except UnusableKey as exc:
        raise fail(str(exc)) from exc
    config = GateConfig(
        upstream=upstream,
        identity_url=identity_url,
        client_id=client_id,
        key_file=key_file,
        key_id=key_id,
        audience=audience,
        public_url=public_url,
    )
    # Our own JSON line per decision replaces the access log, which would record paths (ids).
    # uvicorn's tracebacks as their exception's type only: a path or an upstream body can be PHI.
    uvicorn.run(
        create_gate(config),
        host=host,
        port=port,
        access_log=False,
        log_config=uvicorn_log_config(),
    )


def gate_jwks(key_file: KeyFile, key_id: KeyId = None) -> None:
    """Print the gate's public JWKS, for `identity clients add --jwks`."""
    try:
        key = load_gate_key(key_file, key_id)
    except UnusableKey as exc:
        raise fail(str(exc)) from exc
    typer.echo(orjson.dumps(key.jwks(), option=orjson.OPT_INDENT_2).decode())
