"""The bulk worker's helper process (a share of the deciding, off the service's GIL) is an
optimisation, never a way for a job to fail: one that dies is replaced and the batch it was in
is matched again, on both databases."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.models import BulkMatchMember
from tests.bulkmatch.conftest import (
    bulk_request,
    kick_off,
    member_bundle,
    new_payer_token,
    wait_until_done,
)
from tests.conftest import LiveServer
from tests.factories import fhir_coverage, fhir_patient

pytestmark = pytest.mark.usefixtures("active_policy")
MEMBERS = 24  # two shares of 12: the helper takes one (resolution.MIN_SHARE is 8)


def _strangers(offset: int) -> dict[str, Any]:
    return bulk_request(
        *(
            member_bundle(
                fhir_patient(f"Given{n}", f"Family{n}", f"1980-03-{n % 28 + 1:02d}"),
                fhir_coverage(f"H{n}"),
            )
            for n in range(offset, offset + MEMBERS)
        )
    )


def _helpers_of_this_process() -> list[int]:
    """Our spawned children (multiprocessing's spawn_main), by pid."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == me and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _outcomes(sessions: sessionmaker[Session], status_path: str) -> list[str | None]:
    job_id = status_path.rsplit("/", 1)[1]
    with sessions() as session:
        return list(
            session.scalars(
                select(BulkMatchMember.outcome)
                .where(BulkMatchMember.job_id == job_id)
                .order_by(BulkMatchMember.seq)
            )
        )


def test_a_helper_that_dies_is_replaced_and_the_job_completes(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    helped = settings.model_copy(
        update={"bulk_match_helper_processes": 1, "bulk_match_poll_s": 0.2}
    )
    with LiveServer(helped) as server, server.client(new_payer_token(settings)) as http:
        first = kick_off(http, _strangers(0))
        assert wait_until_done(http, first).status_code == 200
        helpers = _helpers_of_this_process()
        assert len(helpers) == 1  # the first job started it
        os.kill(helpers[0], signal.SIGKILL)

        second = kick_off(http, _strangers(MEMBERS))
        assert wait_until_done(http, second).status_code == 200  # not a failed job (500)
        replaced = _helpers_of_this_process()
        assert len(replaced) == 1
        assert replaced != helpers
    for status_path in (first, second):
        assert _outcomes(sessions, status_path) == ["no-match"] * MEMBERS
