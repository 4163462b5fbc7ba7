"""Charts as SVG drawn on the server: no script, no third-party library, nothing for
the Content-Security-Policy to allow.

``stacked_bars`` draws one bar per day, stacked by series (a partner's matches),
with a legend, a ``<title>`` and a text alternative (``aria-label``): the numbers
are also in the table under each chart, for screen readers and for copying.
Every name is escaped: a partner's name is text, never markup.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from html import escape

# Distinguishable for the common colour-vision deficiencies (Okabe and Ito's palette).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 44, 28, 12


def stacked_bars(title: str, days: Sequence[int], series: Mapping[str, Sequence[int]]) -> str:
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    top = 4 * _nice(-(-max(totals, default=0) // 4))  # four grid steps of whole numbers
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / max(len(days), 1)
    summary = ", ".join(f"{name} {sum(v)}" for name, v in series.items()) or "no matches"
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT + 24 * len(series)}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}: {escape(summary)}">',
        f"<title>{escape(title)}</title>",
    ]
    for k in range(5):  # horizontal grid, with its values
        value = top * k // 4
        y = TOP + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#d0d0d0" stroke-width="1"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#333">{value}</text>')  # fmt: skip
    for i, day in enumerate(days):
        base = 0.0
        x = LEFT + i * step + step * 0.15
        for j, values in enumerate(series.values()):
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            y = TOP + plot_h - base - h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"/>')  # fmt: skip
            base += h
        if i % max(1, len(days) // 8) == 0 or i == len(days) - 1:
            label = time.strftime("%m-%d", time.gmtime(day))
            parts.append(f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - 10}" text-anchor='
                         f'"middle" font-size="11" fill="#333">{label}</text>')  # fmt: skip
    for j, name in enumerate(series):
        y = HEIGHT + 6 + 24 * j
        parts.append(f'<rect x="{LEFT}" y="{y}" width="14" height="14" '
                     f'fill="{PALETTE[j % len(PALETTE)]}"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT + 20}" y="{y + 12}" font-size="13" fill="#111">'
                     f"{escape(name)}: {sum(series[name])}</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _nice(n: int) -> int:
    """The smallest 'round' number (1, 2 or 5 times a power of ten) of at least ``n``."""
    scale = 1
    while True:
        for m in (1, 2, 5):
            if m * scale >= max(n, 1):
                return m * scale
        scale *= 10
