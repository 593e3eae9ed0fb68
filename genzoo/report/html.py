"""A self-contained HTML report: a results table, sample grids, loss curves."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any


def _img_tag(path: Path, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    w = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"{w}>'


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.0f}"
    return html.escape(str(v))


def loss_curves(runs: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """One panel per run: every logged ``*/loss`` series against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(runs))
    ncol = min(n, 2)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.8 * nrow), dpi=100, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, rows) in zip(axes.flat, runs.items()):
        keys = sorted({k for r in rows for k in r if k.endswith("/loss")})
        for k in keys:
            pts = [(r["step"], r[k]) for r in rows if k in r]
            if pts:
                ax.plot(*zip(*pts), label=k, lw=1.2)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if keys:
            ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(path: Path, *, title: str, intro: str, columns: list[str], rows: list[dict[str, Any]],
                 figures: list[tuple[str, Path]], notes: list[str] = ()) -> Path:
    """Write ``path``: a table of ``rows`` (keys = ``columns``) and captioned figures."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    def td(v: Any) -> str:
        cls = "num" if isinstance(v, (int, float)) else "txt"
        return f'<td class="{cls}">{_fmt(v)}</td>'

    body = "".join("<tr>" + "".join(td(r.get(c, "")) for c in columns) + "</tr>" for r in rows)
    figs = "".join(f'<figure>{_img_tag(p, cap)}<figcaption>{html.escape(cap)}</figcaption></figure>'
                   for cap, p in figures)
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; text-align: center; }}
img {{ image-rendering: pixelated; border: 1px solid #ddd; max-width: 100%; }}
figcaption {{ font-size: 0.9em; color: #555; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(intro)}</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<ul>{note_html}</ul>
{figs}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
