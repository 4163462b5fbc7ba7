"""The console's server-drawn charts: bars in proportion, names escaped, grid steps whole."""

from __future__ import annotations

import re
from itertools import pairwise
from xml.etree import ElementTree

from server.console.charts import stacked_bars

DAYS = [0, 86_400, 172_800]


def test_bars_stack_in_proportion_and_names_are_text_never_markup() -> None:
    svg = stacked_bars("Matches <b>", DAYS, {"a<script>": [1, 0, 4], "b": [1, 0, 0]})
    root = ElementTree.fromstring(svg)  # well-formed: every name was escaped
    assert "<script>" not in svg
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if float(r.get("height", 0)) > 14]
    heights = sorted(float(r.get("height", 0)) for r in bars)
    assert heights[-1] == 4 * heights[0]  # 4 matches draw four times as tall as 1
    assert root.get("aria-label") == "Matches <b>: a<script> 5, b 1"
    grid = [t.text for t in root.iter(f"{ns}text") if t.get("text-anchor") == "end"]
    assert grid == ["0", "1", "2", "3", "4"]


def test_the_grid_has_whole_steps_at_any_scale() -> None:
    for top in (0, 1, 3, 7, 13, 999, 12_345):
        svg = stacked_bars("t", DAYS, {"a": [top, 0, 0]})
        values = [int(v) for v in re.findall(r'text-anchor="end"[^>]*>(\d+)<', svg)]
        assert values[0] == 0
        assert values[-1] >= top
        assert len(set(b - a for a, b in pairwise(values))) == 1
