"""Speed benchmarks for `identity`: `python -m benchmarks --help` (or `./dev bench --help`).

Figures are printed as Markdown tables with a machine block, ready to paste into RESULTS.md.
Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench"
TENANT = "bench-payer"
