"""One colour per pruning method in every plot prunekit draws (the sweep report, the planner's plot,
the benchmarks' figures, the gallery).

A method's colour depends on its name only, never on which other methods a plot shows or in which
order, so "el2n" is the same blue in a sweep report, a planner plot and a benchmark figure.
Methods not listed get a colour from a hash of the name (stable across runs and machines).
Colours are hex strings, which matplotlib and HTML both take.
"""

from __future__ import annotations

import hashlib

#: the fixed mapping (matplotlib's tab10 / tab20 hues, chosen so that no two listed methods share one)
METHOD_COLORS: dict[str, str] = {
    "random": "#7f7f7f",            # grey: the baseline
    "rs2": "#bcbd22",               # olive
    "el2n": "#1f77b4",              # blue
    "forgetting": "#ff7f0e",        # orange
    "aum": "#2ca02c",               # green
    "ccs": "#d62728",               # red
    "prototypicality": "#9467bd",   # purple
    "density": "#8c564b",           # brown
    "dbp": "#e377c2",               # pink
    "dynamic_uncertainty": "#17becf",   # cyan
    "grand": "#393b79",             # dark blue
    "grand_last_layer": "#6b6ecf",  # light indigo
    "semdedup": "#637939",          # dark olive
    "hardest": "#1f77b4",
    "easiest": "#aec7e8",
    "offset": "#98df8a",
    "sorscher": "#ffbb78",
}
#: full-data training: a reference line, not a method
FULL_COLOR = "#333333"
_SPARE = ("#843c39", "#7b4173", "#e7969c", "#de9ed6", "#8ca252", "#bd9e39", "#e7ba52", "#ad494a",
          "#a55194", "#5254a3", "#9c9ede", "#cedb9c")


def method_color(method: str) -> str:
    """The colour of ``method`` (``full`` → :data:`FULL_COLOR`); a ``" + KD"`` suffix is ignored
    (KD is shown by line style, not colour)."""
    name = str(method).split(" + ")[0].split(",")[0].strip().lower()
    if name in ("full", "full data"):
        return FULL_COLOR
    if name in METHOD_COLORS:
        return METHOD_COLORS[name]
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return _SPARE[h % len(_SPARE)]


def method_colors(methods) -> dict[str, str]:
    """``{method: colour}`` for several methods at once."""
    return {m: method_color(m) for m in methods}


__all__ = ["FULL_COLOR", "METHOD_COLORS", "method_color", "method_colors"]
