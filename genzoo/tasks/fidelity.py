"""``genzoo bench fidelity``: published numbers reproduced side by side.

A fidelity suite (``kind: fidelity``) is a bench suite whose entries are *rows*: one
published result each, with the setting that reproduces it on a CPU. Besides the
usual entry keys (``recipe``, ``model``, ``config``, ``train``, ``label``) a row states::

    - label: made-1mask
      recipe: made-binarized_mnist-cpu        # what is trained (recipes/, by name)
      data_dir: binarized_mnist               # under the suite's data_root (or --data-dir)
      published: 88.40                        # the paper's number
      source: Germain et al. 2015, Table 6
      target: {max: 89.5}                     # or {min: ...}: what "met" checks
      measure: {kind: nll}                    # how "ours" is computed (below)
      setting: one mask, early stopping on validation; 30 min on 2 cores   # vs the paper

Measures (``measure.kind``):

* ``nll``: the test NLL in nats of the trained run (best weights when validation kept
  some), with ``log_prob`` options such as ``k`` (IWAE samples) or ``ensemble``;
  ``per: token`` divides by the data dimension.
* ``ensemble_gain``: a MADE's single-mask NLL minus its ``ensemble``-mask NLL (nats).
* ``text``: per-character NLL of the test text two ways: genzoo's windows, each from
  BOS (``bos``), and :func:`~genzoo.evaluate.likelihood.sliding_window_nll` with
  ``stride`` (ours; every character after the first window with at least
  ``block - stride`` characters of context).
* ``modes``: :func:`genzoo.tasks.dynamics.mode_collapse` on the toy ``shape`` for
  ``packs`` over ``seeds``; ours is the mean over seeds of the last pack, the others are
  reported beside it.
* ``errors``: test classification errors of a model with ``classify`` (SSGAN).

Outputs in the bench folder: ``results.json``, ``results.csv`` and ``results.md`` with
the columns of :data:`COLUMNS`, one row per entry, the load average of the machine beside
each time.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from genzoo.errors import GenzooError

ROW_KEYS = {"published", "source", "target", "measure", "setting", "data_dir"}
MEASURES = {"nll", "ensemble_gain", "text", "modes", "errors"}
COLUMNS = ["label", "published", "source", "target", "ours", "met", "detail", "setting", "train steps",
           "train s", "total s", "load"]


def check_rows(suite: dict[str, Any], path: Path) -> None:
    """Every row of a fidelity suite states its published number, target and measure."""
    for e in suite["entries"]:
        label = e.get("label")
        if not label:
            raise GenzooError(f"fidelity row {e!r} in {path} needs a label")
        for key in ("published", "source", "target"):
            if key not in e:
                raise GenzooError(f"fidelity row {label!r} in {path} has no {key}")
        target = e["target"]
        if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in ("max", "min"):
            raise GenzooError(f"fidelity row {label!r}: target must be {{max: NUMBER}} or {{min: NUMBER}}, got {target!r}")
        kind = (e.get("measure") or {}).get("kind", "nll")
        if kind not in MEASURES:
            raise GenzooError(f"fidelity row {label!r}: unknown measure {kind!r}; allowed: {', '.join(sorted(MEASURES))}")


def met(ours: float, target: dict[str, float]) -> str:
    """``yes`` / ``no`` (``n/a`` when ours is not a finite number)."""
    if not math.isfinite(ours):
        return "n/a"
    if "max" in target:
        return "yes" if ours <= float(target["max"]) else "no"
    return "yes" if ours >= float(target["min"]) else "no"


def target_text(target: dict[str, float]) -> str:
    return f"<= {target['max']}" if "max" in target else f">= {target['min']}"


def _data_dir(row: dict[str, Any], suite: dict[str, Any], data_root: str | None) -> str | None:
    if not row.get("data_dir"):
        return None
    root = data_root or suite.get("data_root")
    return str(Path(root) / row["data_dir"]) if root else str(row["data_dir"])


def run_fidelity(suite: dict[str, Any], suite_path: Path, out: Path, *, only: list[str] | None = None,
                 scale: float = 1.0, device: str | None = None, data_root: str | None = None,
                 seeds: int | None = None, progress: bool = True, log=print) -> dict[str, Any]:
    """Run the rows (all, or those labelled in ``only``) and write the tables.

    ``scale`` multiplies every row's steps and ``seeds`` caps the seeds of rows measured
    over several (``modes``); both are stated in the table (train steps, detail)."""
    from genzoo.tasks.bench import _label, select_entries

    rows = select_entries(suite, only)
    results = []
    for row in rows:
        label = _label(row)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        measure = dict(row.get("measure") or {"kind": "nll"})
        kind = measure.pop("kind", "nll")
        if seeds is not None and "seeds" in measure:
            measure["seeds"] = min(int(measure["seeds"]), seeds)
        log(f"[{label}] {kind} ...")
        if kind == "modes":
            res = _modes(row, measure, scale=scale, progress=progress)
        else:
            res = _trained(row, kind, measure, suite, suite_path, out / "runs" / label, scale=scale, device=device,
                           data_dir=_data_dir(row, suite, data_root), progress=progress)
        total = time.perf_counter() - t0
        ours = float(res.pop("ours"))
        r = {"label": label, "published": row["published"], "source": row["source"],
             "target": target_text(row["target"]), "ours": ours, "met": met(ours, row["target"]),
             "setting": row.get("setting", ""), "train steps": res.pop("steps"), "train s": res.pop("train_seconds"),
             "total s": total, "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}", "measure": {"kind": kind, **measure},
             **res}
        results.append(r)
        log(f"[{label}] ours {ours:.4g} (published {row['published']}, target {r['target']}: met {r['met']}); "
            f"{total:.0f} s at load {r['load']}")
    write_fidelity(suite, out, results)
    return {"results": results}


def _trained(row: dict[str, Any], kind: str, measure: dict[str, Any], suite: dict[str, Any], suite_path: Path,
             run_dir: Path, *, scale: float, device: str | None, data_dir: str | None,
             progress: bool) -> dict[str, Any]:
    """Train the row's run, then compute its measure on the test split."""
    from genzoo import run as runs
    from genzoo.evaluate.likelihood import evaluate_nll, sliding_window_nll
    from genzoo.tasks.bench import resolve_entry
    from genzoo.train.trainer import Trainer

    run_config = resolve_entry(row, suite, suite_path, scale=scale, device=device, data_dir=data_dir)
    data = runs.load_data(run_config)
    runs.write_config(run_dir, run_config, data.spec)
    torch.manual_seed(run_config.train.seed)
    model = runs.build(run_config, data.spec)
    fit = Trainer(model, data, run_config.train, run_dir=run_dir, progress=progress).fit()
    loaded = runs.load_run(run_dir)  # best weights when validation kept some
    model, test = loaded.model, data.fixed("test")
    out: dict[str, Any] = {"steps": fit["steps"], "train_seconds": fit["seconds"], "weights": loaded.weights,
                           "stopped_early": fit.get("stopped_early"), "model_config": dataclasses.asdict(run_config.model_config),
                           "train": dataclasses.asdict(run_config.train)}
    if kind == "nll":
        per = measure.pop("per", "example")
        res = evaluate_nll(model, test.x, **measure)
        value = res["nll_nats"] / (model.spec.dim if per == "token" else 1)
        return {**out, "ours": value, "detail": f"{res['note']}, {res['n']} test examples"}
    if kind == "ensemble_gain":
        m = int(measure["ensemble"])
        single = evaluate_nll(model, test.x)["nll_nats"]
        ens = evaluate_nll(model, test.x, ensemble=m)["nll_nats"]
        return {**out, "ours": single - ens, "detail": f"one mask {single:.2f}, {m}-mask ensemble {ens:.2f} nats"}
    if kind == "text":
        stride = int(measure.get("stride", 1))
        bos = evaluate_nll(model, test.x)["nll_nats"] / model.spec.dim
        ids = test.x.reshape(-1)  # the test text: its windows do not overlap (a tail shorter than one is left out)
        t0 = time.perf_counter()
        slide = sliding_window_nll(model, ids, block=model.spec.dim, stride=stride)
        return {**out, "ours": slide["nll_per_token"], "bos_nll": bos, "sliding": slide,
                "detail": f"sliding windows (stride {stride}, >= {slide['min_context']} chars of context): "
                          f"{slide['nll_per_token']:.4f}; windows from BOS: {bos:.4f} nats/char "
                          f"({time.perf_counter() - t0:.0f} s)"}
    if kind == "errors":
        if not loaded.model.has("classify"):
            raise GenzooError(f"fidelity row {row.get('label')!r}: {model.name} cannot classify")
        with torch.no_grad():
            pred = torch.cat([model.classify(test.x[i:i + 500]).argmax(-1).cpu() for i in range(0, len(test), 500)])
        errors = int((pred != test.y).sum())
        return {**out, "ours": errors, "detail": f"{errors} errors of {len(test)} test images"}
    raise GenzooError(f"unknown measure {kind!r}")


def _modes(row: dict[str, Any], measure: dict[str, Any], *, scale: float, progress: bool) -> dict[str, Any]:
    from genzoo.tasks.dynamics import mode_collapse

    seeds = tuple(range(int(measure.get("seeds", 5))))
    packs = tuple(int(p) for p in measure.get("packs", (1, 2)))
    steps = max(1, int(round(int(measure.get("steps", 5000)) * scale)))
    t0 = time.perf_counter()
    res = mode_collapse(shapes=(measure.get("shape", "ring"),), packs=packs, seeds=seeds, steps=steps,
                        batch_size=int(measure.get("batch_size", 100)), config=dict(row.get("config") or {}),
                        progress=progress)
    by_pack = {s["pack"]: s for s in res["summary"]}
    ours = by_pack[packs[-1]]["modes_covered"]
    detail = "; ".join(f"pack {p}: {s['modes_covered']:.1f} +/- {s['modes_covered_std']:.1f} of {s['modes_total']} "
                       f"modes, high quality {s['high_quality']:.1%}" for p, s in by_pack.items())
    return {"ours": ours, "steps": steps, "train_seconds": time.perf_counter() - t0,
            "detail": f"{len(seeds)} seeds; {detail}", "summary": res["summary"]}


def write_fidelity(suite: dict[str, Any], out: Path, results: list[dict[str, Any]]) -> None:
    """results.json (everything), results.csv and results.md (the table)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"suite": suite["name"], "description": suite.get("description"),
                                                  "results": results}, indent=2, default=str))
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    md = [f"# bench `{suite['name']}`", "", suite.get("description") or "", "",
          "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        md.append("| " + " | ".join(_cell(r[c]) for c in COLUMNS) + " |")
    (out / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4g}" if abs(v) < 10 else f"{v:,.2f}"
    return str(v).replace("|", "/").replace("\n", " ")
