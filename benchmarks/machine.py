"""The machine block printed under every benchmark's figures."""

from __future__ import annotations

import hashlib
import os
import platform
import sqlite3
from datetime import UTC, datetime
from pathlib import Path


def _cpuinfo() -> tuple[str, int]:
    model, count = platform.processor() or "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
                count += 1
    except OSError:
        pass
    return model, count or (os.cpu_count() or 0)


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _os_name() -> str:
    pretty = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{pretty}, kernel {platform.release()} ({platform.machine()})"


def machine_rows(extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    model, count = _cpuinfo()
    rows = [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("load average (1, 5, 15 min) at the end", load_average()),
        ("CPU", f"{model} × {count} (os.cpu_count={os.cpu_count()})"),
        ("memory", _memory_gib()),
        ("OS", _os_name()),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("SQLite", sqlite3.sqlite_version),
    ]
    rows.extend((extra or {}).items())
    return rows


def machine_block(extra: dict[str, str] | None = None) -> str:
    lines = ["**Machine**", "", "| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in machine_rows(extra)]
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --- CPU accounting, to tell our figures from the rest of the machine's load ---------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and all its live descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree = [root]
    for pid in tree:
        tree.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU of a process tree, including children it has reaped (such as
    PostgreSQL backends of closed connections)."""
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def code_fingerprint() -> str:
    """What was measured: a hash of the service's code, policies and migrations (the repository
    has no commits to name), with the newest file's modification time."""
    from benchmarks import REPO

    files = sorted(
        p
        for pattern in ("identity/**/*.py", "matching_rules/*", "migrations/**/*.py")
        for p in REPO.glob(pattern)
        if p.is_file()
    )
    digest = hashlib.sha256()
    newest = 0.0
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
        newest = max(newest, path.stat().st_mtime)
    when = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{digest.hexdigest()[:12]} (identity/, matching_rules/, migrations/; newest {when})"


def same_code(at_start: str) -> str:
    """The fingerprint for the machine block, flagged if the code changed during the run."""
    now = code_fingerprint()
    return at_start if now == at_start else f"{at_start}, CHANGED during the run to {now}"
