"""A PostgreSQL server for benchmarks, on 127.0.0.1 only, with trust authentication.

Throwaway by default (a cluster in a fresh temporary folder, removed at the end). Given a
`data_dir`, the cluster lives there and survives, so a loaded database can be reused by later runs.

Unlike the test server (fsync off), this one is durable: fsync, synchronous_commit and
full_page_writes stay on, as in production. See SETTINGS for the rest of the tuning.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

SETTINGS: dict[str, str] = {
    "shared_buffers": "1GB",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "max_connections": "200",
    "max_wal_size": "4GB",  # a 1M-member load must not spend its time in forced checkpoints
    "maintenance_work_mem": "256MB",
    "effective_cache_size": "4GB",
}
USER = "bench"


def settings_summary() -> str:
    return ", ".join(f"{k}={v}" for k, v in SETTINGS.items())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} was not found (./dev bench installs it)")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: drop to the package's user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


class PostgresServer:
    def __init__(self, data_dir: Path | None = None) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="identity-bench-pg-"))  # socket and log
        self.throwaway = data_dir is None
        self.data = data_dir if data_dir is not None else self.run_dir / "data"
        self.port = _free_port()
        self.log = self.run_dir / "server.log"

    def start(self) -> None:
        _own(self.run_dir)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            self.data.chmod(0o700)
            _own(self.data)
            initdb = [_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", USER]
            self._run([*initdb, "-E", "UTF8", "--locale=C.UTF-8"])
        options = " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
        options += (
            f" -c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.run_dir}"
        )
        ctl = [_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "300"]
        self._run([*ctl, "-l", str(self.log), "start"])

    def stop(self) -> None:
        # A clean (fast) shutdown, so a kept cluster needs no recovery next time.
        ctl = [_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "120", "stop"]
        subprocess.run(_as_postgres(ctl), capture_output=True, check=False)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{cmd[0]} failed: {done.stderr.strip()}\n{log}")

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL the service is configured with."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        with psycopg.connect(self.admin_url(database), autocommit=True) as conn:
            conn.execute(sql.encode())

    def exists(self, database: str) -> bool:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            return row.fetchone() is not None

    def fresh_database(self, database: str) -> str:
        self.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.execute(f'CREATE DATABASE "{database}"')
        return self.url(database)

    def database_bytes(self, database: str) -> int:
        with psycopg.connect(self.admin_url(database), autocommit=True) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            return int(row[0]) if row else 0

    def pid(self) -> int:
        """The postmaster's process id (its tree holds every backend)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def version(self) -> str:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "unknown"


@contextmanager
def postgres_server(data_dir: Path | None = None) -> Iterator[PostgresServer]:
    """A running server; stopped (and, if throwaway, deleted) on the way out, always."""
    server = PostgresServer(data_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if server.throwaway:
            shutil.rmtree(server.data, ignore_errors=True)
