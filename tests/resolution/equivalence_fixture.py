"""The matching path's answers on fixed data, recorded once from the old code and kept as a
fixture (`tests/fixtures/equivalence.json.gz`), so a faster path can prove it decides, stores and
audits exactly the same (issue 14: how fast changes, never what is decided).

Two sets: the synthetic generator's (seed `SEED`, `MEMBERS` members loaded through the real
loader, `QUERIES` requests of every kind and perturbation) and FEBRL4 (its 5,000 originals as the
master, every `FEBRL_STEP`-th copy as a request). Each request goes through the real service
(`identity.resolution.service.match`, default policy, `TODAY` fixed) in its own transaction, and
its stored decision is rendered as `GET /v1/matches/{id}` renders it; a sample of the synthetic
requests also goes over real HTTP. Kept per request: the answer `/v1/match` gives, the rendered
document (in full), and the audit events the request appended. Decision and review item ids,
timestamps and timings differ per run and are replaced by placeholders; nothing else is.

Make the fixture from the code before a change, never from a tree being edited:

    git worktree add ../base <commit> && cp tests/resolution/equivalence_fixture.py \\
        ../base/tests/resolution/ && cd ../base && \\
        PYTHONPATH=. ../<this checkout>/.venv/bin/python -m tests.resolution.equivalence_fixture \\
        --out ../<this checkout>/tests/fixtures/equivalence.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import identity
from identity.audit import service as audit_service
from identity.audit.actor import Actor
from identity.auth.principal import Principal
from identity.auth.scopes import ALL_SCOPES
from identity.db import tenant_transaction
from identity.errors import InvalidInput
from identity.matching.policy import find_policy
from identity.matching.record import RawDemographics
from identity.models import AuditEvent
from identity.policy import service as policy_service
from identity.policy.cache import MatcherCache
from identity.resolution import outcome, service
from identity.resolution.schemas import match_response, stored_match_response

TODAY = date(2026, 12, 7)  # age and coverage status are judged on this day, every run
SEED = 14
MEMBERS = 5000
QUERIES = 1000
FEBRL_STEP = 5  # every fifth FEBRL4 copy (sorted by record id): 1,000 requests
HTTP_EVERY = 20  # every 20th synthetic request whose evidence does not depend on the day
TENANT = "test-payer"  # tests/conftest.py: TENANT
CLIENT = "equivalence-client"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "equivalence.json.gz"

MATCH_ID, REVIEW_ITEM_ID, STAMP, DAY = "<match-id>", "<review-item-id>", "<time>", "<today>"
# Coverage statuses that stay the same on any later day (every synthetic end date is in 2025 or
# before): an HTTP request is judged on the real day, so only these are compared over HTTP.
STABLE_STATUSES = frozenset({"current", "ended-before-lookback", "unknown"})

Json = dict[str, Any]
Request = tuple[str, Json | RawDemographics]  # (query id, FHIR body or FEBRL raw demographics)


# -- the data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticSet:
    members: Path  # members.ndjson
    requests: list[Request]
    digests: dict[str, str]  # file name -> sha256: the generator must still write these bytes


def synthetic_set(folder: Path) -> SyntheticSet:
    """The generator's members and requests for `SEED`, written into `folder`."""
    from identity.synthetic import write_dataset

    paths = write_dataset(folder, members=MEMBERS, queries=QUERIES, seed=SEED, formats=("ndjson",))
    requests: list[Request] = []
    for line in paths.queries_ndjson.read_bytes().splitlines():
        item = orjson.loads(line)
        body = {k: v for k, v in item["request"].items() if v is not None}
        requests.append((item["query_id"], body))
    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (paths.members_ndjson, paths.queries_ndjson)
    }
    return SyntheticSet(paths.members_ndjson, requests, digests)


def load_synthetic(session: Session, members: Path) -> int:
    """Through the real loader, leavers' coverage ended as of `TODAY`."""
    from identity.member.service import load_members

    report = load_members(session, TENANT, [members], as_of=TODAY)
    if not report.ok:
        raise AssertionError(f"the synthetic members did not load: {report.errors[:3]}")
    return report.read


def febrl_set() -> tuple[Callable[[Session, str], int], list[Request]]:
    """FEBRL4 as `identity evaluate` knows it: (load the master, every FEBRL_STEP-th copy)."""
    from identity.evaluation.datasets import febrl4

    data = febrl4()
    queries = sorted(data.queries, key=lambda q: q.request_id)[::FEBRL_STEP]
    return data.load_master, [(q.request_id, q.raw) for q in queries if q.raw is not None]


def activate_default(sessions: sessionmaker[Session], rules_dir: Path) -> str:
    policy = find_policy(rules_dir, "default")
    with tenant_transaction(sessions, TENANT) as session:
        policy_service.activate(session, TENANT, policy)
    return policy.version


# -- what is kept of one request ------------------------------------------------------------------


def _ids(match_id: str, review_item_id: str | None) -> dict[str, str]:
    return {match_id: MATCH_ID, **({review_item_id: REVIEW_ITEM_ID} if review_item_id else {})}


def normalise_answer(answer: Json) -> Json:
    """`/v1/match`'s answer with its per-run ids replaced."""
    ids = _ids(answer["match_id"], answer.get("review_item_id"))
    return {**answer, **{k: ids.get(answer[k], answer[k]) for k in ("match_id", "review_item_id")}}


def normalise_document(document: Json, *, over_http: bool = False) -> Json:
    """`GET /v1/matches/{id}` with exactly what differs per run replaced: the decision and
    review item ids, the creation time, the timings' values (their names stay) and, over HTTP
    only (judged on the real day), the day coverage was judged on."""
    doc = normalise_answer(document)
    doc["created_at"] = STAMP
    doc["timings_ms"] = {k: STAMP for k in document["timings_ms"]}
    if doc.get("resolution") and doc["resolution"].get("resolved_at") is not None:
        doc["resolution"] = {**doc["resolution"], "resolved_at": STAMP}
    if over_http and "coverage_status" in doc["evidence"]:
        status = dict(doc["evidence"]["coverage_status"])
        status["as_of"] = DAY if _is_today(status["as_of"]) else status["as_of"]
        doc["evidence"] = {**doc["evidence"], "coverage_status": status}
    return doc


def _is_today(day: str) -> bool:
    """The server's day, allowing for midnight passing during the run."""
    now = datetime.now(UTC).date()
    return day in {now.isoformat(), date.fromordinal(now.toordinal() - 1).isoformat()}


def canonical(document: Json) -> bytes:
    """The document's canonical bytes: keys sorted, since PostgreSQL's jsonb keeps its own key
    order (the old path's documents differ in key order between the databases, never in value)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def audit_rows(events: Sequence[AuditEvent], ids: dict[str, str]) -> list[Json]:
    """What each event records, minus its row id, time, request id and hashes (which cover
    them); decision and review item ids as placeholders."""
    return [
        {
            "action": e.action,
            "outcome": e.outcome,
            "http_status": e.http_status,
            "object_type": e.object_type,
            "object_ids": [ids.get(i, i) for i in e.object_ids],
            "policy_version": e.policy_version,
            "client_id": e.client_id,
            "person": e.person,
        }
        for e in events
    ]


class AuditTail:
    """The tenant's audit events appended since the last call."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._seq = 0
        self.take()

    def take(self) -> list[AuditEvent]:
        with tenant_transaction(self._sessions, TENANT) as session:
            events = list(
                session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.tenant_id == TENANT, AuditEvent.seq > self._seq)
                    .order_by(AuditEvent.seq)
                )
            )
        if events:
            self._seq = events[-1].seq
        return events


def chain_intact(sessions: sessionmaker[Session]) -> bool:
    with tenant_transaction(sessions, TENANT) as session:
        return audit_service.verify(session, TENANT).intact


# -- running requests -----------------------------------------------------------------------------


def _principal() -> Principal:
    return Principal(
        client_id=CLIENT,
        tenant=TENANT,
        scopes=frozenset(ALL_SCOPES),
        token_id="equivalence",
        issuer="equivalence",
    )


def _refused(error: InvalidInput) -> Json:
    return {"status": error.status, "errors": [e.as_dict() for e in error.errors]}


def run_in_process(sessions: sessionmaker[Session], requests: Sequence[Request]) -> list[Json]:
    """Each request through the real service in a transaction of its own, as a request would,
    then read back and rendered as `GET /v1/matches/{id}` renders it (itself audited)."""
    matchers = MatcherCache()
    principal = _principal()
    actor = Actor(tenant=TENANT, client_id=CLIENT, request_id=None)
    tail = AuditTail(sessions)
    results: list[Json] = []
    for query_id, request in requests:
        try:
            raw = (
                request
                if isinstance(request, RawDemographics)
                else service.parse_match_request(request, TODAY)
            )
        except InvalidInput as error:
            results.append({"id": query_id, "refused": _refused(error)})
            continue
        with tenant_transaction(sessions, TENANT) as session:
            result = service.match(session, TENANT, matchers, raw, today=TODAY, actor=actor)
            answer = match_response(result).model_dump(mode="json")
        with tenant_transaction(sessions, TENANT) as session:
            read = outcome.read(session, principal, actor, result.decision.id)
            document = stored_match_response(read).model_dump(mode="json")
        ids = _ids(answer["match_id"], answer["review_item_id"])
        results.append(
            {
                "id": query_id,
                "answer": normalise_answer(answer),
                "document": normalise_document(document),
                "audit": audit_rows(tail.take(), ids),
            }
        )
    return results


def _exchange(client: httpx.Client, query_id: str, body: Any) -> tuple[Json, dict[str, str]]:
    """`POST /v1/match` then `GET /v1/matches/{id}`: the result and its per-run ids."""
    posted = client.post("/v1/match", json=body)
    if posted.status_code != 200:
        problem = posted.json() if posted.status_code < 500 else {}
        refused = {"status": posted.status_code, "errors": problem.get("errors")}
        return {"id": query_id, "refused": refused}, {}
    answer = posted.json()
    fetched = client.get(f"/v1/matches/{answer['match_id']}")
    if fetched.status_code != 200:
        raise AssertionError(f"{query_id}: GET /v1/matches answered {fetched.status_code}")
    result = {
        "id": query_id,
        "answer": normalise_answer(answer),
        "document": normalise_document(fetched.json(), over_http=True),
    }
    return result, _ids(answer["match_id"], answer["review_item_id"])


def run_over_http(
    client: httpx.Client, sessions: sessionmaker[Session], requests: Sequence[Request]
) -> list[Json]:
    """Each request over real HTTP in turn, with the audit events it appended."""
    tail = AuditTail(sessions)
    results: list[Json] = []
    for query_id, body in requests:
        result, ids = _exchange(client, query_id, body)
        results.append({**result, "audit": audit_rows(tail.take(), ids)})
    return results


def run_over_http_at_once(
    client: httpx.Client,
    sessions: sessionmaker[Session],
    requests: Sequence[Request],
    workers: int,
) -> tuple[list[Json], list[Json]]:
    """The requests over real HTTP from `workers` threads at once (so a group commit groups
    them): each one's result, and every audit event they appended, in chain order (the events
    of concurrent requests interleave, so they are not told apart per request)."""
    tail = AuditTail(sessions)
    with ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(lambda item: _exchange(client, *item), requests))
    ids = {match_id: name for _, found in done for match_id, name in found.items()}
    return [result for result, _ in done], audit_rows(tail.take(), ids)


def http_sample(results: Sequence[Json], requests: Sequence[Request]) -> list[Request]:
    """Every `HTTP_EVERY`-th request whose evidence would read the same on any later day (its
    candidates' coverage statuses cannot change), refused ones included."""
    bodies = dict(requests)
    stable = [
        r["id"]
        for r in results
        if "refused" in r
        or set(r["document"]["evidence"].get("coverage_status", {}).get("members", {}).values())
        <= STABLE_STATUSES
    ]
    return [(query_id, bodies[query_id]) for query_id in stable[::HTTP_EVERY]]


# -- comparing ------------------------------------------------------------------------------------

# Values safe to print in a failure (codes, ids, names of rules and levels): anything else that is
# a string may be demographics, and is shown by its length only.
_PRINTABLE_KEYS = frozenset(
    {
        "id",
        "outcome",
        "stage",
        "reason",
        "status",
        "member_id",
        "policy_version",
        "action",
        "object_type",
        "object_ids",
        "rule",
        "rules_fired",
        "label",
        "level",
        "comparison",
        "blocking_keys",
        "client_id",
        "kind",
        "as_of",
    }
)


def _show(key: str, value: Any) -> str:
    if isinstance(value, str) and key not in _PRINTABLE_KEYS and not value.startswith("<"):
        return f"<text of {len(value)} characters>"
    if isinstance(value, dict | list):
        return f"<{type(value).__name__} of {len(value)}>"
    return repr(value)


# Keys that name an item of a list (a candidate, a comparison, a rule, a guard), in a failure.
_NAMING_KEYS = ("member_id", "comparison", "rule", "guard", "name", "action")


def _label(index: int, item: Any) -> str:
    if isinstance(item, dict):
        for k in _NAMING_KEYS:
            if isinstance(item.get(k), str):
                return f"{index} {item[k]}"
    return str(index)


def differences(expected: Any, actual: Any, path: str = "", key: str = "") -> Iterator[str]:
    """Where two JSON values differ, by path (a candidate by its member id), values shown only
    when they cannot be demographics."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        missing, extra = set(expected) - set(actual), set(actual) - set(expected)
        if missing or extra:
            yield f"{path or '/'}: keys missing {sorted(missing)}, extra {sorted(extra)}"
        for k in expected:
            if k in actual:
                yield from differences(expected[k], actual[k], f"{path}/{k}", k)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{path}: {len(expected)} items expected, {len(actual)} given"
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            yield from differences(e, a, f"{path}[{_label(i, e)}]", key)
        return
    if type(expected) is not type(actual) or expected != actual:
        delta = ""
        if isinstance(expected, float) and isinstance(actual, float):
            delta = f" (difference {abs(expected - actual):.3g})"
        yield f"{path}: expected {_show(key, expected)}, got {_show(key, actual)}{delta}"


def _close(expected: Any, actual: Any, tolerance: float) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        return abs(expected - actual) <= tolerance
    if isinstance(expected, dict) and isinstance(actual, dict):
        return set(expected) == set(actual) and all(
            _close(expected[k], actual[k], tolerance) for k in expected
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _close(e, a, tolerance) for e, a in zip(expected, actual, strict=True)
        )
    return type(expected) is type(actual) and expected == actual


PROBABILITY_TOLERANCE = 1e-9


def compare(expected: Json, actual: Json) -> list[str]:
    """One request's mismatches, each naming the query and the field: the answer (its floats to
    `PROBABILITY_TOLERANCE`), the rendered document byte for byte, the audit events exactly."""
    query = expected["id"]
    if actual["id"] != query:
        return [f"{query}: compared with {actual['id']}"]
    found: list[str] = []
    for part in ("refused", "answer"):
        present = part in expected or part in actual
        if present and not _close(expected.get(part), actual.get(part), PROBABILITY_TOLERANCE):
            diff = list(differences(expected.get(part), actual.get(part))) or ["differs"]
            found += [f"{query} {part}{d}" for d in diff[:8]]
    expected_doc, actual_doc = expected.get("document"), actual.get("document")
    if canonical(expected_doc or {}) != canonical(actual_doc or {}):
        diff = list(differences(expected_doc, actual_doc))
        diff = diff or ["the bytes differ (same values: a float's representation?)"]
        found += [f"{query} document{d}" for d in diff[:8]]
    if "audit" in expected and expected["audit"] != actual.get("audit"):
        diff = list(differences(expected["audit"], actual.get("audit"))) or ["differs"]
        found += [f"{query} audit{d}" for d in diff[:8]]
    return found


# -- making the fixture ---------------------------------------------------------------------------


def build(database_url: str, key_dir: Path, work: Path) -> Json:
    """Every result the fixture keeps, computed on a fresh SQLite at `database_url`."""
    from identity.auth.dev import mint_dev_token
    from identity.config import Settings
    from identity.db import make_engine, make_session_factory, upgrade
    from tests.conftest import RULES_DIR, LiveServer, service_settings

    upgrade(database_url)
    settings: Settings = service_settings(database_url, key_dir)
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    try:
        version = activate_default(sessions, RULES_DIR)
        synthetic = synthetic_set(work / "synthetic")
        with tenant_transaction(sessions, TENANT) as session:
            load_synthetic(session, synthetic.members)
        in_process = run_in_process(sessions, synthetic.requests)
        sample = http_sample(in_process, synthetic.requests)
        with LiveServer(settings) as server:
            token = mint_dev_token(settings, tenant=TENANT, client_id=CLIENT)
            with server.client(token) as client:
                over_http = run_over_http(client, sessions, sample)
        if not chain_intact(sessions):
            raise AssertionError("the audit chain does not verify")
    finally:
        engine.dispose()

    febrl_url = database_url.replace(".db", "-febrl.db")
    upgrade(febrl_url)
    engine = make_engine(settings.model_copy(update={"database_url": febrl_url}))
    sessions = make_session_factory(engine)
    try:
        activate_default(sessions, RULES_DIR)
        load_master, febrl_requests = febrl_set()
        with tenant_transaction(sessions, TENANT) as session:
            load_master(session, TENANT)
        febrl = run_in_process(sessions, febrl_requests)
    finally:
        engine.dispose()
    return {
        "made_from": {"package": identity.__version__, "module": identity.__file__},
        "today": TODAY.isoformat(),
        "policy_version": version,
        "synthetic": {
            "seed": SEED,
            "members": MEMBERS,
            "queries": QUERIES,
            "digests": synthetic.digests,
            "in_process": in_process,
            "over_http": over_http,
        },
        "febrl4": {"step": FEBRL_STEP, "in_process": febrl},
    }


def load_fixture(path: Path = FIXTURE) -> Json:
    with gzip.open(path, "rb") as fh:
        loaded: Json = orjson.loads(fh.read())
    return loaded


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="identity-equivalence-") as tmp:
        root = Path(tmp)
        (root / "keys").mkdir()
        fixture = build(f"sqlite:///{root / 'equivalence.db'}", root / "keys", root)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(args.out, "wb", mtime=0) as fh:
        fh.write(orjson.dumps(fixture))
    print(f"wrote {args.out} from {fixture['made_from']['module']}")


if __name__ == "__main__":
    main()
