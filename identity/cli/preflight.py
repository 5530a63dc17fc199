"""`python -m identity.cli.preflight`: the container entrypoint's first step (deploy/entrypoint.sh).

Refuses (exit 2, one line per problem, naming the IDENTITY_* variable, never its value: a
database URL may hold a password) when the settings do not parse or the folders the service
writes to are not writable; otherwise makes the signing and data keys when absent. Run once by
the migration job before any replica starts, it leaves one key pair for all replicas to share
on the data volume (a token signed by one replica must verify on another).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import ValidationError

from identity.auth.keys import load_or_create_signing_key
from identity.config import Settings
from identity.idempotency.sealing import load_or_create_sealer


def setting_problems(exc: ValidationError) -> list[str]:
    """One line per bad setting: its variable and what is wrong, without the value given."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        problems.append(f"IDENTITY_{field.upper()}: {error['msg']}")
    return problems


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def folder_problems(settings: Settings) -> list[str]:
    """The folders the service writes: the SQLite file's and the key files'."""
    wanted: dict[Path, str] = {}
    database = _sqlite_file(settings.database_url)
    if database is not None:
        wanted[database.parent] = "IDENTITY_DATABASE_URL"
    wanted.setdefault(settings.signing_key_file.parent, "IDENTITY_SIGNING_KEY_FILE")
    wanted.setdefault(settings.data_key_file.parent, "IDENTITY_DATA_KEY_FILE")
    problems = []
    for folder, variable in sorted(wanted.items()):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problems.append(f"{variable}: cannot create {folder} ({exc.strerror})")
            continue
        if not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"{variable}: {folder} is not writable by uid {os.getuid()}")
    return problems


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in setting_problems(exc):
            print(f"identity: bad setting {line}", file=sys.stderr)
        return 2
    problems = folder_problems(settings)
    for line in problems:
        print(f"identity: {line}", file=sys.stderr)
    if problems:
        return 2
    if settings.dev_auth:
        print("identity: warning: IDENTITY_DEV_AUTH is on (never in production)", file=sys.stderr)
    load_or_create_signing_key(settings.signing_key_file)
    load_or_create_sealer(settings.data_key_file)
    print("identity: settings valid, keys in place", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
