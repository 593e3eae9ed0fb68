"""Plain-text tables for the terminal (bench and quickstart summaries)."""

from __future__ import annotations

from typing import Any


def format_table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    """A plain-text table (floats with 2 decimals, NaN as n/a)."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if v != v else f"{v:,.2f}"
        return str(v)

    cells = [[cell(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) if i >= 2 else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in cells]
    return "\n".join([line, sep, *body])
