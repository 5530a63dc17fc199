"""Charts as inline SVG, drawn here: the analysis report opens with no network and no script
(no CDN, no chart library), and every mark is plain markup a browser test can measure.

Each function returns one `<svg>` element with a `<title>` (its accessible name) and a `role`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 300
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 40, 34, 44
BLUE, ORANGE, GREEN, RED, GREY = "#1f6fb2", "#d9711c", "#2e8b3d", "#c0392b", "#6b6b6b"


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    colour: str
    xs: Sequence[float]
    ys: Sequence[float]


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def _tick_text(value: float, step: float = 1.0) -> str:
    """As many decimals as the spacing of the ticks needs, and no more."""
    decimals = max(0, 1 - math.floor(math.log10(step))) if step > 0 else 2
    text = f"{value:.{min(decimals, 8)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Frame:
    """Data coordinates to pixels, and the axes drawn around the plotting area."""

    def __init__(
        self,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        width: int = WIDTH,
        height: int = HEIGHT,
    ) -> None:
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1.0
        self.width, self.height = width, height
        self.left, self.right = PAD_LEFT, width - PAD_RIGHT
        self.top, self.bottom = PAD_TOP, height - PAD_BOTTOM

    def x(self, value: float) -> float:
        share = (value - self.x0) / (self.x1 - self.x0)
        return self.left + share * (self.right - self.left)

    def y(self, value: float) -> float:
        share = (value - self.y0) / (self.y1 - self.y0)
        return self.bottom - share * (self.bottom - self.top)

    def axes(self, x_label: str, y_label: str, x_ticks: Sequence[tuple[float, str]] = ()) -> str:
        parts = [
            f'<line class="axis" x1="{self.left}" y1="{self.bottom}" x2="{self.right}" '
            f'y2="{self.bottom}"/>',
            f'<line class="axis" x1="{self.left}" y1="{self.top}" x2="{self.left}" '
            f'y2="{self.bottom}"/>',
        ]
        y_step = (self.y1 - self.y0) / 4
        for value in _ticks(self.y0, self.y1):
            y = _fmt(self.y(value))
            parts.append(
                f'<line class="grid" x1="{self.left}" y1="{y}" x2="{self.right}" y2="{y}"/>'
                f'<text class="tick" x="{self.left - 6}" y="{y}" text-anchor="end" '
                f'dominant-baseline="middle">{_tick_text(value, y_step)}</text>'
            )
        x_step = (self.x1 - self.x0) / 4
        ticks = x_ticks or [(v, _tick_text(v, x_step)) for v in _ticks(self.x0, self.x1)]
        for value, text in ticks:
            x = _fmt(self.x(value))
            parts.append(
                f'<text class="tick" x="{x}" y="{self.bottom + 16}" text-anchor="middle">'
                f"{escape(text)}</text>"
            )
        parts.append(
            f'<text class="label" x="{(self.left + self.right) / 2:.0f}" y="{self.height - 6}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
            f'<text class="label" transform="translate(14 {(self.top + self.bottom) / 2:.0f}) '
            f'rotate(-90)" text-anchor="middle">{escape(y_label)}</text>'
        )
        return "".join(parts)


def _svg(title: str, body: str, width: int = WIDTH, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _legend(entries: Sequence[tuple[str, str]], frame: _Frame) -> str:
    parts = []
    for i, (name, colour) in enumerate(entries):
        x = frame.left + i * 150
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>'
            f'<text class="tick" x="{x + 16}" y="16">{escape(name)}</text>'
        )
    return "".join(parts)


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    marker: float | None = None,
    marker_text: str = "",
    x_ticks: Sequence[tuple[float, str]] = (),
    y_range: tuple[float, float] = (0.0, 1.0),
) -> str:
    """Lines through each series' points, with a vertical rule at `marker` (the chosen point)."""
    xs = [x for s in series for x in s.xs]
    frame = _Frame((min(xs, default=0.0), max(xs, default=1.0)), y_range)
    parts = [frame.axes(x_label, y_label, x_ticks)]
    for s in series:
        points = " ".join(
            f"{_fmt(frame.x(x))},{_fmt(frame.y(y))}" for x, y in zip(s.xs, s.ys, strict=True)
        )
        parts.append(
            f'<polyline class="series" fill="none" stroke="{s.colour}" stroke-width="2" '
            f'points="{points}"><title>{escape(s.name)}</title></polyline>'
        )
        parts += [
            f'<circle cx="{_fmt(frame.x(x))}" cy="{_fmt(frame.y(y))}" r="2.5" fill="{s.colour}"/>'
            for x, y in zip(s.xs, s.ys, strict=True)
        ]
    if marker is not None:
        x = _fmt(frame.x(marker))
        parts.append(
            f'<line class="marker" x1="{x}" y1="{frame.top}" x2="{x}" y2="{frame.bottom}"/>'
            f'<text class="tick" x="{x}" y="{frame.top + 30}" dx="4">{escape(marker_text)}</text>'
        )
    parts.append(_legend([(s.name, s.colour) for s in series], frame))
    return _svg(title, "".join(parts))


def scatter(
    title: str,
    points: Sequence[tuple[float, float]],
    *,
    x_label: str,
    y_label: str,
    chosen: tuple[float, float] | None = None,
    chosen_text: str = "",
    y_range: tuple[float, float] | None = None,
) -> str:
    """Every point in grey; the chosen one ringed in red."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    frame = _Frame(
        (min(xs, default=0.0), max(xs, default=1.0)),
        y_range or (min(ys, default=0.0), max(ys, default=1.0)),
    )
    parts = [frame.axes(x_label, y_label)]
    parts += [
        f'<circle cx="{_fmt(frame.x(x))}" cy="{_fmt(frame.y(y))}" r="3" fill="{GREY}" '
        'fill-opacity="0.5"/>'
        for x, y in points
    ]
    if chosen is not None:
        cx, cy = _fmt(frame.x(chosen[0])), _fmt(frame.y(chosen[1]))
        parts.append(
            f'<circle class="chosen" cx="{cx}" cy="{cy}" r="7" fill="none" stroke="{RED}" '
            f'stroke-width="2.5"/><text class="tick" x="{cx}" y="{cy}" dx="10" dy="-8">'
            f"{escape(chosen_text)}</text>"
        )
    return _svg(title, "".join(parts))


def histogram(
    title: str,
    groups: Sequence[tuple[str, str, Sequence[float]]],
    *,
    x_label: str,
    bins: int = 30,
    y_label: str = "pairs",
    x_range: tuple[float, float] | None = None,
    x_ticks: Sequence[tuple[float, str]] = (),
) -> str:
    """Overlaid histograms on shared bins (counts), one colour per group."""
    values = [v for _, _, vs in groups for v in vs]
    low, high = x_range or ((min(values), max(values)) if values else (0.0, 1.0))
    if high <= low:
        high = low + 1.0
    width = (high - low) / bins
    counts = [[min(int((v - low) / width), bins - 1) for v in vs] for _, _, vs in groups]
    tallies = [[c.count(b) for b in range(bins)] for c in counts]
    top = max((n for t in tallies for n in t), default=1) or 1
    frame = _Frame((low, high), (0.0, float(top)))
    parts = [frame.axes(x_label, y_label, x_ticks)]
    for (name, colour, _), tally in zip(groups, tallies, strict=True):
        for b, n in enumerate(tally):
            if not n:
                continue
            x0, x1 = frame.x(low + b * width), frame.x(low + (b + 1) * width)
            y = frame.y(n)
            parts.append(
                f'<rect class="bar" x="{_fmt(x0)}" y="{_fmt(y)}" '
                f'width="{_fmt(max(x1 - x0 - 1, 1))}" '
                f'height="{_fmt(frame.bottom - y)}" fill="{colour}" fill-opacity="0.6">'
                f"<title>{escape(name)}: {n}</title></rect>"
            )
    parts.append(_legend([(name, colour) for name, colour, _ in groups], frame))
    return _svg(title, "".join(parts))


def weight_bars(title: str, rows: Sequence[tuple[str, float]], *, x_label: str) -> str:
    """Horizontal bars around zero: evidence for a match to the right (blue), against to the
    left (red), as splink's match weights chart draws them."""
    height = 16 + PAD_BOTTOM + 18 * max(len(rows), 1)
    values = [v for _, v in rows] or [0.0]
    bound = max(1.0, math.ceil(max(abs(min(values)), abs(max(values)))))
    low = 0.0 if min(values) >= 0 else -bound  # counts need no left half
    left_pad = 240
    frame = _Frame((low, bound), (0.0, 1.0), width=WIDTH + 100, height=height)
    frame.left, frame.top = left_pad, 16
    parts = [
        f'<line class="axis" x1="{_fmt(frame.x(0))}" y1="{frame.top}" x2="{_fmt(frame.x(0))}" '
        f'y2="{frame.bottom}"/>'
    ]
    for value in _ticks(low, bound):
        parts.append(
            f'<text class="tick" x="{_fmt(frame.x(value))}" y="{frame.bottom + 16}" '
            f'text-anchor="middle">{_tick_text(value, (bound - low) / 4)}</text>'
        )
    parts.append(
        f'<text class="label" x="{(frame.left + frame.right) / 2:.0f}" y="{height - 6}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    for i, (name, value) in enumerate(rows):
        y = frame.top + 18 * i
        x0, x1 = sorted((frame.x(0), frame.x(value)))
        colour = BLUE if value >= 0 else RED
        parts.append(
            f'<text class="tick" x="{left_pad - 6}" y="{y + 12}" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<rect class="bar" x="{_fmt(x0)}" y="{y + 2}" width="{_fmt(max(x1 - x0, 1))}" '
            f'height="13" fill="{colour}"><title>{escape(name)}: {value:+.2f}</title></rect>'
        )
    return _svg(title, "".join(parts), width=WIDTH + 100, height=height)


def waterfall(title: str, steps: Sequence[tuple[str, float]], *, total_text: str) -> str:
    """The match weight built up step by step (prior, then each comparison), the running sum
    drawn as floating bars, the total as the last bar."""
    running, spans = 0.0, []
    for name, value in steps:
        spans.append((name, running, running + value, value))
        running += value
    spans.append((total_text, 0.0, running, running))
    ends = [e for _, s, e, _ in spans for e in (s, e)] or [0.0]
    low, high = min(0.0, min(ends)), max(0.0, max(ends))
    width = max(WIDTH, 70 * len(spans) + PAD_LEFT)
    frame = _Frame((0.0, float(len(spans))), (low, high), width=width)
    parts = [frame.axes("", "weight", [(i + 0.5, "") for i in range(len(spans))])]
    for i, (name, start, end, value) in enumerate(spans):
        x0, x1 = frame.x(i + 0.15), frame.x(i + 0.85)
        y0, y1 = sorted((frame.y(start), frame.y(end)))
        colour = GREY if i == len(spans) - 1 else (BLUE if value >= 0 else RED)
        parts.append(
            f'<rect class="bar" x="{_fmt(x0)}" y="{_fmt(y0)}" width="{_fmt(x1 - x0)}" '
            f'height="{_fmt(max(y1 - y0, 1))}" fill="{colour}"><title>{escape(name)}: '
            f"{value:+.2f}</title></rect>"
            f'<text class="tick" x="{_fmt((x0 + x1) / 2)}" y="{frame.bottom + 14 + 13 * (i % 2)}" '
            f'text-anchor="middle">{escape(name)}</text>'
        )
    zero = _fmt(frame.y(0.0))
    parts.append(
        f'<line class="axis" x1="{frame.left}" y1="{zero}" x2="{frame.right}" y2="{zero}"/>'
    )
    return _svg(title, "".join(parts), width=width)


def probability_bars(title: str, rows: Sequence[tuple[str, float, float]]) -> str:
    """m and u of each level side by side on a 0-1 scale (splink's m/u chart): m, the share of
    true pairs at the level (blue); u, the share of random pairs (orange)."""
    left_pad, row = 240, 22
    height = 34 + PAD_BOTTOM + row * max(len(rows), 1)
    frame = _Frame((0.0, 1.0), (0.0, 1.0), width=WIDTH + 100, height=height)
    frame.left, frame.top = left_pad, 34
    parts = [_legend([("m (same person)", BLUE), ("u (two people)", ORANGE)], frame)]
    for value in _ticks(0.0, 1.0):
        x = _fmt(frame.x(value))
        parts.append(
            f'<line class="grid" x1="{x}" y1="{frame.top}" x2="{x}" y2="{frame.bottom}"/>'
            f'<text class="tick" x="{x}" y="{frame.bottom + 16}" text-anchor="middle">'
            f"{_tick_text(value, 0.25)}</text>"
        )
    parts.append(
        f'<text class="label" x="{(frame.left + frame.right) / 2:.0f}" y="{height - 6}" '
        'text-anchor="middle">probability</text>'
    )
    for i, (name, m, u) in enumerate(rows):
        y = frame.top + row * i
        parts.append(
            f'<text class="tick" x="{left_pad - 6}" y="{y + 14}" text-anchor="end">'
            f"{escape(name)}</text>"
        )
        for j, (value, colour, what) in enumerate(((m, BLUE, "m"), (u, ORANGE, "u"))):
            width = max(frame.x(value) - frame.left, 1)
            parts.append(
                f'<rect class="bar" x="{frame.left}" y="{y + 2 + 9 * j}" width="{_fmt(width)}" '
                f'height="8" fill="{colour}"><title>{escape(name)} {what} = {value:.4g}'
                "</title></rect>"
            )
    return _svg(title, "".join(parts), width=WIDTH + 100, height=height)
