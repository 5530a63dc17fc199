"""The repository stands alone: cloned into an empty folder, it has everything its service and its
tests read, and nothing in it points outside itself.

The test clones the work tree's HEAD (`git clone`, so only committed files) into a temporary
folder with nothing beside it (a path that worked only because of what sits next to the
checkout fails there), and there:

- searches every tracked file for paths that lead outside (the design folder that sits beside the
  checkout on the development machine, by relative or absolute path, and the original checkout's
  absolute path) and every symbolic link for a target outside the clone;
- checks that `import identity` from the clone loads the clone's package, not the installed one;
- runs the set-up half of `./dev serve` from the clone: `identity demo --no-serve` (migrate a new
  SQLite file, activate the default policy, generate and load a synthetic sample with the
  showcase household), with 200 members instead of 5,000 to keep it short;
- runs part of `./dev test` from the clone: ruff over the same paths, pytest collecting the whole
  suite (every test module imports and its module-level files load), and the `$member-match`
  tests that send HL7's example payloads (they once read them from beside the checkout) on SQLite.

Not covered: creating `.venv` and installing the dependencies (the existing virtual environment's
interpreter runs everything; a fresh `pip install` takes minutes and needs the network), installing
PostgreSQL and chromium with apt, mypy, serving HTTP from the clone, and the rest of the suite.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

# Spelt in two parts so that this file does not match its own search.
OUTSIDE = (".." + "/shared", "/work" + "/shared")
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("clone") / "identity"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def _env(clone: Path, **extra: str) -> dict[str, str]:
    """The clone's environment: no IDENTITY_* (nor this run's PYTEST_*, such as an xdist worker's)
    leaking in from outside, the clone's package first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "PYTEST_"))}
    env["PYTHONPATH"] = str(clone)
    env.update(extra)
    return env


def _run(clone: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=clone, env=_env(clone, **extra), capture_output=True, text=True, timeout=600
    )


def _tracked(clone: Path) -> Iterator[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=clone, check=True, capture_output=True
    ).stdout
    for name in listed.decode().split("\0"):
        if name:
            yield clone / name


def test_nothing_points_outside_the_repository(clone: Path) -> None:
    needles = (*OUTSIDE, str(REPO))
    found: list[str] = []
    files = list(_tracked(clone))
    assert len(files) > 100  # the clone is the repository, not an empty folder
    for path in files:
        if path.is_symlink():
            target = (path.parent / os.readlink(path)).resolve()
            if not target.is_relative_to(clone.resolve()):
                found.append(f"{path.relative_to(clone)} -> {target}")
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [f"{path.relative_to(clone)}: {n}" for n in needles if n in text]
    assert not found, found


def test_the_package_imported_from_a_clone_is_the_clones(clone: Path) -> None:
    r = _run(clone, sys.executable, "-c", "import identity; print(identity.__file__)")
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).resolve().is_relative_to(clone.resolve())


def test_serve_setup_runs_in_a_clone(clone: Path) -> None:
    """`./dev serve` without the serving: migrate, activate, generate, load."""
    db = clone / "identity.db"
    r = _run(clone, sys.executable, "-m", "identity", "demo", "--members", "200", "--no-serve")
    assert r.returncode == 0, r.stderr
    assert db.exists()
    assert "loaded 2" in r.stdout  # 200 synthetic members and the showcase household
    listed = _run(clone, sys.executable, "-m", "identity", "policy", "list")
    assert listed.returncode == 0, listed.stderr
    assert "active" in listed.stdout
    current = _run(clone, sys.executable, "-m", "identity", "db", "current")
    assert current.returncode == 0, current.stderr
    database, code = (part.split(":")[1].strip() for part in current.stdout.split("  "))
    assert database == code != "(empty)"  # migrated to the clone's own head


def test_lint_and_the_suites_collection_run_in_a_clone(clone: Path) -> None:
    lint = _run(clone, str(VENV_BIN / "ruff"), "check", "identity", "tests", "benchmarks")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    collected = _run(
        clone, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--collect-only"
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "tests collected" in collected.stdout


def test_the_exchange_tests_with_hl7_payloads_pass_in_a_clone(clone: Path) -> None:
    r = _run(
        clone,
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-x",
        "-k",
        "sqlite and hrex",
        "tests/exchange/test_member_match.py",
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert " passed" in r.stdout


def test_the_architecture_page_names_every_top_level_module() -> None:
    """docs/architecture.md describes the package as it is: a new module gets its line there."""
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = REPO / "identity"
    modules = [
        f"`{p.name}/`" if p.is_dir() else f"`{p.name}`"
        for p in sorted(package.iterdir())
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name not in {"__init__.py", "__main__.py"})
    ]
    assert len(modules) > 20
    missing = [m for m in modules if f"| {m} |" not in page]
    assert not missing, f"docs/architecture.md lacks a line for {missing}"


def test_every_hl7_payload_the_tests_name_is_in_the_clone_with_its_source(clone: Path) -> None:
    """The published examples the tests send live in tests/fhir_examples, each listed with its
    origin in SOURCES.md there."""
    examples = clone / "tests" / "fhir_examples"
    sources = (examples / "SOURCES.md").read_text(encoding="utf-8")
    named = {
        name
        for path in (clone / "tests").rglob("*.py")
        for name in re.findall(r"[\"']((?:hrex|pdex|hapi)-[\w.\-]+\.json)[\"']", path.read_text())
    }
    assert named  # the exchange and bulk tests name theirs
    missing = sorted(n for n in named if not (examples / n).is_file())
    assert not missing, missing
    unsourced = sorted(n for n in named if f"`{n}`" not in sources)
    assert not unsourced, unsourced
    for name in named:
        assert json.loads((examples / name).read_text(encoding="utf-8"))["resourceType"]
