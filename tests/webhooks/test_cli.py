"""`identity webhooks set|list|remove`, run as an operator runs it (a subprocess)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from tests.conftest import TENANT
from tests.test_cli import run
from tests.webhooks.conftest import register_client


def test_an_operator_registers_lists_and_removes_a_webhook(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    client_id = register_client(sessions, settings, TENANT)
    url = "https://payer.example/hooks/identity"
    done = run(settings, "webhooks", "set", "--client", client_id, "--url", url)
    assert done.returncode == 0, done.stderr
    assert run(settings, "webhooks", "list").stdout.split("\n")[0].split("\t") == [
        TENANT,
        client_id,
        url,
    ]
    assert run(settings, "webhooks", "list", "--tenant", "nobody").stdout == ""

    refused = run(settings, "webhooks", "set", "--client", client_id, "--url", "http://x.example")
    assert refused.returncode == 1
    assert "https is required" in refused.stderr
    unknown = run(settings, "webhooks", "set", "--client", "nope", "--url", url)
    assert (unknown.returncode, "no client" in unknown.stderr) == (1, True)

    assert run(settings, "webhooks", "remove", "--client", client_id).returncode == 0
    assert run(settings, "webhooks", "list").stdout == ""
    assert run(settings, "webhooks", "remove", "--client", client_id).returncode == 1
