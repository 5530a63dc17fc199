"""The deployment files read as Docker and Compose would (no daemon here): the service image runs
as a non-root user with its state under the /data volume and no training packages, a second
target adds them; compose wires PostgreSQL 16, a one-shot migration job, two service replicas and
Prometheus; the alert rules name only metrics the service exports. And the service's own import
graph, serving requests, never loads the training packages the service image leaves out."""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from identity.config import Settings
from identity.observability.metrics import build_metrics
from tests.conftest import REPO

TRAINING_PACKAGES = ("splink", "duckdb", "pandas", "pyarrow", "faker")

# A sitecustomize that makes the training packages absent, as they are in the service image.
SERVICE_IMAGE_SITE = f"""
import sys
from importlib.abc import MetaPathFinder

class _NotInTheServiceImage(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {set(TRAINING_PACKAGES)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInTheServiceImage())
"""


def as_in_the_service_image(folder: Path) -> dict[str, str]:
    """Environment variables under which Python cannot import the training packages."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SERVICE_IMAGE_SITE)
    return {"PYTHONPATH": str(folder)}


@dataclass
class Stage:
    base: str
    name: str | None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (instruction, arguments)


def dockerfile_stages() -> dict[str, Stage]:
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # continuation lines
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        else:
            stages[-1].lines.append((instruction, args.strip()))
    by_name = {s.name or str(i): s for i, s in enumerate(stages)}
    by_name["(default)"] = stages[-1]
    return by_name


def chain(stages: dict[str, Stage], name: str) -> list[tuple[str, str]]:
    """A target's instructions, its base stages' first."""
    stage = stages[name]
    inherited = chain(stages, stage.base) if stage.base in stages else []
    return inherited + stage.lines


def env_of(lines: list[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for instruction, args in lines:
        if instruction == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                found[key] = value
    return found


def last(lines: list[tuple[str, str]], instruction: str) -> str | None:
    matches = [args for i, args in lines if i == instruction]
    return matches[-1] if matches else None


def test_the_default_target_is_the_service_without_training_packages() -> None:
    stages = dockerfile_stages()
    assert stages["(default)"] is stages["service"]
    service = chain(stages, "service")
    installs = " ".join(args for i, args in service if i == "RUN")
    assert "pip install" in installs
    assert "[train]" not in installs
    assert not [p for p in TRAINING_PACKAGES if p in installs]
    user = last(service, "USER")
    assert user not in (None, "root", "0")
    assert any(i == "VOLUME" and "/data" in a for i, a in service)
    assert "/readyz" in str(last(service, "HEALTHCHECK"))
    # The entrypoint is the script the tests run (tests/test_entrypoint.py).
    (installed,) = [
        a.split()[1] for i, a in service if i == "COPY" and a.split()[0] == "deploy/entrypoint.sh"
    ]
    assert f'["{Path(installed).name}"]' == last(service, "ENTRYPOINT")
    assert '"identity", "serve"' in str(last(service, "CMD"))


def test_the_train_target_adds_the_train_extra_as_the_same_user() -> None:
    stages = dockerfile_stages()
    train = chain(stages, "train")
    installs = [args for i, args in train if i == "RUN" and "pip install" in args]
    assert any("identity[train]" in a for a in installs)
    assert last(train, "USER") == last(chain(stages, "service"), "USER")
    build = [args for i, args in stages["build"].lines if i == "RUN"]
    assert any('.[train]"' in a or ".[train]" in a for a in build)  # its wheels are built once


def test_everything_the_service_writes_defaults_under_data() -> None:
    env = env_of(chain(dockerfile_stages(), "service"))
    settings = Settings(
        **{k[len("IDENTITY_") :].lower(): v for k, v in env.items() if k.startswith("IDENTITY_")}
    )
    assert settings.database_url == "sqlite:////data/identity.db"
    for path in (settings.signing_key_file, settings.data_key_file, settings.dev_key_file):
        assert path.is_relative_to("/data"), path


def test_dockerignore_keeps_secrets_out_and_what_the_build_copies_in() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, p.lstrip("/"))
            or fnmatch.fnmatch(path.split("/")[-1], p)
            or path.startswith(p.lstrip("/").rstrip("/") + "/")
            for p in patterns
        )

    for kept_out in (".venv/bin/python", ".git/HEAD", "identity.db", ".identity/signing-key.pem"):
        assert ignored(kept_out), kept_out
    copied = [
        a.split()[0]
        for i, a in chain(dockerfile_stages(), "service") + dockerfile_stages()["build"].lines
        if i == "COPY" and not a.startswith("--from")
    ]
    for source in copied:
        assert not ignored(source), source
        assert (REPO / source).exists(), source


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return loaded


def test_compose_runs_postgres_a_migration_job_two_replicas_and_prometheus() -> None:
    services = compose()["services"]
    assert str(services["postgres"]["image"]).startswith("postgres:16")
    assert "healthcheck" in services["postgres"]
    migrate, service = services["migrate"], services["identity"]
    assert migrate["restart"] == "no"
    assert migrate["environment"]["IDENTITY_MIGRATE"] == "1"
    assert migrate["environment"]["IDENTITY_ACTIVATE_POLICY"]
    assert migrate["environment"]["IDENTITY_APP_ROLE"]
    assert service["deploy"]["replicas"] == 2
    assert service["environment"]["IDENTITY_MIGRATE"] == "0"
    assert "identity_app" in service["environment"]["IDENTITY_DATABASE_URL"]
    assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    # The keys the migration job makes are the ones every replica signs with.
    assert "identity-data:/data" in migrate["volumes"]
    assert "identity-data:/data" in service["volumes"]
    for name in ("migrate", "identity"):
        assert services[name]["build"]["target"] == "service"
    # Passwords and the scrape digest come from the environment, never the file.
    text = (REPO / "compose.yaml").read_text()
    for variable in ("POSTGRES_PASSWORD", "IDENTITY_APP_PASSWORD", "IDENTITY_METRICS_TOKEN_SHA256"):
        assert f"${{{variable}:?" in text
    for mount in services["postgres"]["volumes"] + services["prometheus"]["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (REPO / source).is_file(), source


def test_prometheus_scrapes_each_replica_with_the_token_file() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "identity"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    secret = job["authorization"]["credentials_file"]
    assert secret == "/run/secrets/metrics-token"
    assert "metrics-token" in compose()["services"]["prometheus"]["secrets"]
    assert job["dns_sd_configs"][0]["names"] == ["identity"]  # the compose service: all replicas
    rules_mount = [
        m.split(":")[1]
        for m in compose()["services"]["prometheus"]["volumes"]
        if "prometheus-rules.yml" in m
    ]
    assert any(fnmatch.fnmatch(rules_mount[0], glob) for glob in config["rule_files"])


def exported_series(sessions: sessionmaker[Session], settings: Settings) -> set[str]:
    """Every series name the service's registry can emit (families listed even when empty)."""
    payload, _ = build_metrics(sessions, settings).render()
    names: set[str] = set()
    for line in payload.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "counter":
                names.add(name.removesuffix("_total") + "_total")
            if kind == "histogram":
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_alert_rules_parse_and_name_only_exported_metrics(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus-rules.yml").read_text())
    exported = exported_series(sessions, settings)
    used: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"].startswith("Identity")
            assert rule["labels"]["severity"] in ("page", "ticket")
            assert rule["annotations"]["summary"]
            expr = rule["expr"]
            assert expr.count("(") == expr.count(")"), rule["alert"]
            names = set(re.findall(r"\b((?:identity|http)_[a-z_]+)\b", expr))
            # Prometheus's own `up` is the one other series a rule may name.
            assert names or expr.startswith('up{job="identity"}'), rule["alert"]
            assert names <= exported, (rule["alert"], names - exported)
            used |= names
    # The board's indicators and the counters each have an alert.
    for name in (
        "identity_sli_overturn_rate",
        "identity_sli_match_rate",
        "identity_sli_manual_review_rate",
        "identity_sli_median_time_to_resolution_seconds",
        "identity_sli_audited_decision_share",
        "identity_consent_refusals_total",
        "identity_guard_refusals_total",
        "identity_tokens_revoked_total",
        "identity_bulk_jobs_total",
    ):
        assert name in used, name


# The packages behind `identity train`, `synth` and `dedupe`: never imported by the service.
TRAINING_SIDE = ("identity/training/", "identity/synthetic/", "identity/dedupe/")


def test_only_training_modules_import_training_packages_at_load() -> None:
    """splink, DuckDB, pandas, pyarrow and faker are imported at a module's top only in the
    training-side packages; anywhere else inside the function that needs it (the CLI commands
    included), so that `identity --help` and the service run without them."""
    offenders = []
    for path in sorted((REPO / "identity").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith(TRAINING_SIDE):
            continue
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{relative}: {n}" for n in names if n.split(".")[0] in TRAINING_PACKAGES]
    assert offenders == []


SERVE = r"""
import sys, tempfile
from pathlib import Path
from fastapi.testclient import TestClient
from identity.app import create_app
from identity.auth.dev import mint_dev_token
from identity.config import Settings
from identity.db import make_engine, make_session_factory, transaction, upgrade
from identity.matching.policy import find_policy
from identity.policy import service as policy_service
import identity.cli.main  # the entrypoint's commands run in the service image too

tmp = Path(tempfile.mkdtemp())
settings = Settings(
    database_url=f"sqlite:///{tmp / 'identity.db'}", rules_dir=Path(sys.argv[1]),
    default_tenant="t1", dev_auth=True, signing_key_file=tmp / "s.pem",
    dev_key_file=tmp / "d.pem", data_key_file=tmp / "k", public_url="https://id.test",
)
upgrade(settings.database_url)
with transaction(make_session_factory(make_engine(settings))) as session:
    policy_service.activate(session, "t1", find_policy(settings.rules_dir, "default"))
with TestClient(create_app(settings)) as client:
    token = mint_dev_token(settings, tenant="t1", client_id="c1")
    auth = {"Authorization": f"Bearer {token}"}
    patient = {"resourceType": "Patient", "name": [{"family": "Zqx", "given": ["Ann"]}],
               "birthDate": "1980-01-02", "gender": "female"}
    codes = [
        client.get("/readyz").status_code,
        client.post("/v1/match", json={"patient": patient}, headers=auth).status_code,
        client.get("/metrics", headers=auth).status_code,
    ]
print(codes)
try:
    import pandas  # noqa: F401
    print("pandas importable: the service-image simulation is not in effect")
except ModuleNotFoundError:
    pass
print(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(","))))
"""


def test_serving_requests_never_loads_a_training_package(tmp_path: Path) -> None:
    """Migrate, activate, serve a match and a scrape with the training packages unimportable."""
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(REPO / "matching_rules"), ",".join(TRAINING_PACKAGES)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, **as_in_the_service_image(tmp_path / "site")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    codes, loaded = done.stdout.strip().splitlines()[-2:]
    assert codes == "[200, 200, 200]"
    assert loaded == "[]"
