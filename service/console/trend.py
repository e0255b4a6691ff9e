"""The register's trend as a chart the server draws: an inline SVG, no script, no library.

A pure function of the API's ``GET /projects/{id}/trend`` answer (and the project's name),
so that it is tested without a request and the page needs nothing but its own CSS (the
console's CSP allows no inline style: colours come from console.css by ``data-category``,
lines from presentation attributes). Every text that goes into the SVG is escaped here,
because the template inserts the SVG as markup. The figures are also given in words
(the SVG's title and desc, which name the image for screen readers) and as rows for a
visually hidden table, since a chart alone says nothing to someone who cannot see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

from service.analysis.labels import RISK_LABELS

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 12, 34  # room for the counts and the weeks
MAX_WEEK_LABELS = 8
INK, MUTED, GRID = "#1a1a1a", "#4a4a4a", "#c8c8c8"  # console.css: --ink, --muted, --line


@dataclass(frozen=True)
class TrendRow:
    week: str
    start: str
    counts: tuple[int, ...]  # per category, in TrendChart.categories' order
    total: int


@dataclass(frozen=True)
class TrendChart:
    """What the page shows: the SVG, its figures in words, and the same figures as rows."""

    svg: Markup
    title: str
    summary: str
    categories: tuple[str, ...]
    rows: tuple[TrendRow, ...]


def trend_chart(trend: dict, project_name: str = "") -> TrendChart | None:
    """A stacked bar a week (open risks per category) from the trend's ``weeks``; None
    when there is no week (no risk in the register yet)."""
    weeks = [week for week in trend.get("weeks") or [] if isinstance(week, dict)]
    if not weeks:
        return None
    seen = {category for week in weeks for category in (week.get("open") or {})}
    categories = tuple([c for c in RISK_LABELS if c in seen]
                       + sorted(c for c in seen if c not in RISK_LABELS))
    rows = []
    for week in weeks:
        open_ = week.get("open") or {}
        counts = tuple(_count(open_.get(category)) for category in categories)
        rows.append(TrendRow(str(week.get("week", "")), str(week.get("start", "")), counts,
                             sum(counts)))
    title = f"Open risks per week in {project_name}" if project_name else "Open risks per week"
    summary = _summary(rows, categories)
    return TrendChart(_svg(rows, categories, title, summary), title, summary, categories,
                      tuple(rows))


def _count(value) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _summary(rows: list[TrendRow], categories: tuple[str, ...]) -> str:
    """The chart in words: the span, the latest week by category, the busiest week."""
    first, last = rows[0], rows[-1]
    span = (f"Week {first.week}" if len(rows) == 1
            else f"From week {first.week} to week {last.week} ({len(rows)} weeks)")
    parts = [f"{category} {count}" for category, count in zip(categories, last.counts,
                                                              strict=True) if count]
    latest = (f"in the latest week, {last.week}, {last.total} "
              f"{'risk is' if last.total == 1 else 'risks are'} open"
              + (f": {', '.join(parts)}" if parts else ""))
    busiest = max(rows, key=lambda row: row.total)
    peak = (f" The most open in one week: {busiest.total}, in week {busiest.week}."
            if len(rows) > 1 else "")
    return f"{span}: {latest}.{peak}"


def _step(most: int) -> int:
    """A round step for at most five gridlines above zero: 1, 2, 5, 10, 20, 50…"""
    for power in range(12):
        for base in (1, 2, 5):
            step = base * 10 ** power
            if math.ceil(most / step) <= 5:
                return step
    return 10 ** 12


def _svg(rows: list[TrendRow], categories: tuple[str, ...], title: str,
         summary: str) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    most = max(row.total for row in rows)
    step = _step(max(most, 1))
    top = step * max(math.ceil(most / step), 1)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    slot = plot_w / len(rows)
    bar = min(max(slot * 0.7, 1.0), 48.0)
    parts = [
        (f'<svg class="trend-chart" xmlns="http://www.w3.org/2000/svg" '
         f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" focusable="false" '
         f'aria-labelledby="trend-title trend-desc">'),
        f'<title id="trend-title">{escape(title)}</title>',
        f'<desc id="trend-desc">{escape(summary)}</desc>',
    ]
    for tick in range(0, top + 1, step):  # gridlines and the counts
        at = _n(y(tick))
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at}" y2="{at}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{at}" dy="0.35em" text-anchor="end" '
                     f'font-size="12" fill="{MUTED}">{tick}</text>')
    every = math.ceil(len(rows) / MAX_WEEK_LABELS)
    for index, row in enumerate(rows):
        x = LEFT + slot * index + (slot - bar) / 2
        base = 0
        for category, count in zip(categories, row.counts, strict=True):
            if not count:
                continue
            upper, lower = y(base + count), y(base)
            parts.append(
                f'<rect class="bar" data-category="{escape(category)}" x="{_n(x)}" '
                f'y="{_n(upper)}" width="{_n(bar)}" height="{_n(lower - upper)}" '
                f'stroke="{INK}" stroke-width="0.75"><title>{escape(row.week)}: '
                f'{escape(category)} {count}</title></rect>')
            base += count
        if index % every == 0:
            parts.append(f'<text x="{_n(x + bar / 2)}" y="{HEIGHT - BOTTOM + 18}" '
                         f'text-anchor="middle" font-size="12" fill="{MUTED}">'
                         f'{escape(row.week)}</text>')
    baseline = _n(y(0))
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{baseline}" y2="{baseline}" '
                 f'stroke="{INK}" stroke-width="1"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # every text above is escaped


def _n(value: float) -> str:
    """A coordinate, short: at most one decimal."""
    return f"{value:.1f}".rstrip("0").rstrip(".")
