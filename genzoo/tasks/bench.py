"""``genzoo bench``: train every entry of a suite on the same data and budget, evaluate
all with the same metrics and sample counts, and write the tables and a report.

A suite is a YAML file::

    name: quick
    description: every family on the built-in digits
    data: {name: digits, binarize: threshold}     # every entry trains on exactly this
    train: {steps: 1500, batch_size: 64, lr: 1.0e-3}   # the shared budget
    evaluate: {metrics: [nll, fid, kid, prdc, is], samples: 359, seed: 0}
    report: {file: report.html, title: ..., real: real test digits, notes: [...]}  # optional
    entries:
      - {model: made, config: {hidden: [256, 256]}}
      - {model: gmm, config: {components: 10}, train: {steps: 60, batch_size: 0}}  # stated in the table
      - {label: made-cpu, recipe: made-binarized_mnist-cpu}   # a recipe of recipes/, by name or path

An entry's own ``train`` keys (an EM model counts steps differently) and a recipe's are
reported beside its numbers. Outputs in ``bench/<suite>/``: ``results.json`` (everything),
``results.csv`` and ``results.md`` (one row per entry), ``index.html`` (the table, one
sample grid per model beside real data, loss curves and the settings; ``report`` names
the file, its title, the real data's caption and notes) and ``runs/`` (every trained run,
loadable with ``genzoo sample``/``eval``). ``genzoo quickstart`` is the shipped suite
``quickstart``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from genzoo.config import load_yaml
from genzoo.data.dataset import random_rows
from genzoo.errors import GenzooError
from genzoo.models.base import count_parameters

SUITE_KEYS = {"name", "description", "data", "train", "evaluate", "report", "entries", "kind", "data_root"}
ENTRY_KEYS = {"model", "label", "config", "train", "recipe"}
EVAL_KEYS = {"metrics", "samples", "seed"}
REPORT_KEYS = {"file", "title", "real", "notes"}
SHIPPED = Path(__file__).resolve().parents[1] / "suites"


def find_recipe(name: str, suite_dir: Path) -> Path:
    """A recipe by path (relative to the suite or the working directory) or by name in
    ``recipes/`` (the working directory's, or this checkout's)."""
    candidates = [Path(name), suite_dir / name, Path("recipes") / f"{name}.yaml",
                  Path(__file__).resolve().parents[2] / "recipes" / f"{name}.yaml"]
    for c in candidates:
        if c.is_file():
            return c
    raise GenzooError(f"recipe {name!r} not found (looked in {', '.join(str(c) for c in candidates)})")


def load_suite(path_or_name: str) -> tuple[dict[str, Any], Path]:
    """Read and check a suite: a YAML path, or the name of a shipped suite."""
    p = Path(path_or_name)
    if not p.is_file():
        shipped = SHIPPED / f"{path_or_name}.yaml"
        if not shipped.is_file():
            names = ", ".join(sorted(q.stem for q in SHIPPED.glob("*.yaml")))
            raise GenzooError(f"suite {path_or_name!r} is neither a file nor a shipped suite ({names})")
        p = shipped
    suite = load_yaml(p)
    unknown = set(suite) - SUITE_KEYS
    if unknown:
        raise GenzooError(f"unknown suite key(s) {', '.join(sorted(unknown))} in {p}; allowed: "
                          f"{', '.join(sorted(SUITE_KEYS))}")
    if not suite.get("entries"):
        raise GenzooError(f"suite {p} has no entries")
    kind = suite.get("kind", "compare")
    if kind not in ("compare", "fidelity"):
        raise GenzooError(f"bad suite kind {kind!r} in {p}: compare (the default) or fidelity")
    from genzoo.tasks.fidelity import ROW_KEYS, check_rows

    allowed = ENTRY_KEYS | (ROW_KEYS if kind == "fidelity" else set())
    for e in suite["entries"]:
        if not isinstance(e, dict) or not ({"model", "recipe"} & set(e)):
            raise GenzooError(f"suite entry {e!r} needs a model or a recipe")
        bad = set(e) - allowed
        if bad:
            raise GenzooError(f"unknown key(s) {', '.join(sorted(bad))} in suite entry {e!r}; allowed: "
                              f"{', '.join(sorted(allowed))}")
    if kind == "fidelity":
        check_rows(suite, p)
    bad = set(suite.get("evaluate") or {}) - EVAL_KEYS
    if bad:
        raise GenzooError(f"unknown evaluate key(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(EVAL_KEYS))}")
    bad = set(suite.get("report") or {}) - REPORT_KEYS
    if bad:
        raise GenzooError(f"unknown report key(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(REPORT_KEYS))}")
    suite.setdefault("name", p.stem)
    return suite, p


def fresh_out(out: str | Path | None, default: Path) -> Path:
    """The output folder: ``out``, which must be empty or new (nothing is overwritten), or
    else ``default``, ``default-2``, ... whichever does not exist yet."""
    if out is not None:
        path = Path(out)
        if path.exists() and any(path.iterdir()):
            raise GenzooError(f"{path} exists and is not empty; choose another --out (nothing was overwritten)")
        return path
    path, i = default, 2
    while path.exists():
        path, i = default.with_name(f"{default.name}-{i}"), i + 1
    return path


def _label(entry: dict[str, Any]) -> str:
    return str(entry.get("label") or entry.get("model") or Path(str(entry["recipe"])).stem)


def select_entries(suite: dict[str, Any], only: list[str] | None) -> list[dict[str, Any]]:
    """The suite's entries, or those labelled in ``only`` (in suite order); labels must be distinct."""
    entries = suite["entries"]
    labels = [_label(e) for e in entries]
    if len(set(labels)) != len(labels):
        raise GenzooError(f"suite entries need distinct labels; got {labels}")
    if only:
        missing = [m for m in only if m not in labels]
        if missing:
            raise GenzooError(f"no entry {', '.join(missing)} in suite {suite['name']!r} (has {', '.join(labels)})")
        entries = [e for e, lab in zip(entries, labels) if lab in only]
    return entries


def resolve_entry(entry: dict[str, Any], suite: dict[str, Any], suite_path: Path, *, scale: float = 1.0,
                  device: str | None = None, data_dir: str | None = None, seed: int | None = None):
    """The RunConfig of an entry: suite data and budget, then the recipe, then the entry's keys
    (``device`` and ``seed``, when given, over all of them)."""
    from genzoo import run as runs

    recipe: dict[str, Any] = {"data": dict(suite.get("data") or {}), "train": dict(suite.get("train") or {})}
    if "recipe" in entry:
        rec = load_yaml(find_recipe(str(entry["recipe"]), suite_path.parent))
        recipe["model"] = dict(rec.get("model") or {})
        recipe["train"].update(rec.get("train") or {})
        rec_data = dict(rec.get("data") or {})
        if recipe["data"] and rec_data.get("name", recipe["data"].get("name")) != recipe["data"].get("name"):
            raise GenzooError(f"entry {_label(entry)!r}: its recipe is for {rec_data.get('name')!r}, the suite's "
                              f"data is {recipe['data'].get('name')!r}")
        recipe["data"] = {**rec_data, **recipe["data"]}
    model = entry.get("model") or (recipe.get("model") or {}).get("name")
    recipe["model"] = {**(recipe.get("model") or {}), **dict(entry.get("config") or {})}
    recipe["model"]["name"] = model
    recipe["train"].update(entry.get("train") or {})
    recipe["train"]["steps"] = max(1, int(round(int(recipe["train"].get("steps", 1000)) * scale)))
    recipe["train"].update(checkpoint_every=0, sample_every=0)
    return runs.resolve(recipe=recipe, train_flags={"device": device, "seed": seed}, data_dir=data_dir)


def run_suite(suite: dict[str, Any], suite_path: Path, out: Path, *, only: list[str] | None = None,
              scale: float = 1.0, device: str | None = None, data_dir: str | None = None,
              features_data_dir: str | None = None, seed: int | None = None, progress: bool = True,
              log=print) -> dict[str, Any]:
    """Train and evaluate every entry (or those labelled in ``only``); write the outputs.
    ``scale`` multiplies every entry's steps; ``seed``, when given, seeds training and the
    evaluation."""
    from genzoo import run as runs
    from genzoo.evaluate.metrics import evaluate
    from genzoo.train.trainer import Trainer

    if scale <= 0:
        raise GenzooError(f"bad value {scale} for --scale: must be > 0")
    entries = select_entries(suite, only)
    ev = {"metrics": ["nll", "fid", "kid", "prdc"], "samples": None, "seed": 0, **(suite.get("evaluate") or {})}
    if seed is not None:
        ev["seed"] = seed
    run_configs = [resolve_entry(e, suite, suite_path, scale=scale, device=device, data_dir=data_dir, seed=seed)
             for e in entries]
    data, data_key = None, None
    results = []
    for entry, run_config in zip(entries, run_configs):
        label = _label(entry)
        key = (run_config.data, json.dumps(dataclasses.asdict(run_config.data_options), sort_keys=True), run_config.data_dir)
        if data is None or key != data_key:
            data, data_key = runs.load_data(run_config), key
        run_dir = out / "runs" / label
        runs.write_config(run_dir, run_config, data.spec)
        torch.manual_seed(run_config.train.seed)
        model = runs.build(run_config, data.spec)
        log(f"[{label}] {run_config.model}: {run_config.train.steps} steps ...")
        fit = Trainer(model, data, run_config.train, run_dir=run_dir, progress=progress).fit()
        loaded = runs.load_run(run_dir)
        metrics = [m for m in ev["metrics"] if m != "nll" or loaded.model.likelihood is not None]
        metrics = [m for m in metrics if m != "cas" or "conditional" in loaded.model.capabilities]
        t0 = time.perf_counter()
        res = evaluate(loaded.model, data, metrics, name=run_config.data, samples=ev["samples"], seed=ev["seed"],
                       root=run_config.data_dir, features_root=features_data_dir, progress=False)
        eval_s = time.perf_counter() - t0
        g = torch.Generator().manual_seed(ev["seed"])
        t0 = time.perf_counter()
        with torch.no_grad():
            grid = loaded.model.sample(64, generator=g).cpu()
        sample_rate = 64 / (time.perf_counter() - t0)
        results.append({"label": label, "model": run_config.model, "family": loaded.model.family,
                        "parameters": count_parameters(loaded.model),
                        "train": dataclasses.asdict(run_config.train), "model_config": dataclasses.asdict(run_config.model_config),
                        "train_seconds": fit["seconds"], "eval_seconds": eval_s, "samples_per_second": sample_rate,
                        "metrics": res, "_grid": grid})
        said = _short(res)
        if "nll" in ev["metrics"] and "nll" not in res:
            said.insert(0, "NLL n/a (no likelihood: judge it by its samples)")
        log(f"[{label}] {fit['seconds']:.1f}s; " + "; ".join(said))
    report = write_outputs(suite, out, results, data)
    return {"results": [{k: v for k, v in r.items() if k != "_grid"} for r in results], "report": str(report)}


def _short(res: dict[str, Any]) -> list[str]:
    out = []
    if "nll" in res:
        out.append(f"NLL {res['nll']['nll_nats']:.2f} nats ({res['nll']['kind']})")
    for key, name in (("fid", "FID"), ("kid", "KID")):
        if key in res:
            out.append(f"{name} {res[key]['value']:.4g}")
    if "prdc" in res:
        out.append(f"precision {res['prdc']['precision']:.2f} recall {res['prdc']['recall']:.2f}")
    return out


COLUMNS = ["label", "model", "family", "parameters", "train steps", "NLL (nats)", "bits/dim", "likelihood", "FID",
           "KID", "IS", "precision", "recall", "density", "coverage", "modes", "CAS", "train s", "samples/s"]


def flat_row(r: dict[str, Any]) -> dict[str, Any]:
    """One table row of a result (NaN where a metric does not apply)."""
    m = r["metrics"]
    nan = math.nan
    row = {"label": r["label"], "model": r["model"], "family": r["family"], "parameters": r["parameters"],
           "train steps": r["train"]["steps"], "train s": r["train_seconds"], "samples/s": r["samples_per_second"]}
    nll = m.get("nll")
    row.update({"NLL (nats)": nll["nll_nats"] if nll else nan, "bits/dim": nll["bits_per_dim"] if nll else nan,
                "likelihood": nll["note"] if nll else "none"})
    row["FID"] = m["fid"]["value"] if "fid" in m else nan
    row["KID"] = m["kid"]["value"] if "kid" in m else nan
    row["IS"] = m["is"]["value"] if "is" in m else nan
    for k in ("precision", "recall", "density", "coverage"):
        row[k] = m["prdc"][k] if "prdc" in m else nan
    row["modes"] = f"{m['modes']['modes_covered']}/{m['modes']['modes_total']}" if "modes" in m else ""
    row["CAS"] = m["cas"]["accuracy"] if "cas" in m else nan
    return row


def settings_lines(suite: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    """What every number depends on: data, budget, sample counts, features, overrides."""
    lines = [f"data: {json.dumps(suite.get('data') or {})}", f"shared budget: {json.dumps(suite.get('train') or {})}"]
    for r in results:
        sample_metric = next((r["metrics"][k] for k in ("fid", "kid", "prdc", "is") if k in r["metrics"]), None)
        if sample_metric:
            lines.append(f"sample metrics: {sample_metric['samples']} samples (seed {sample_metric['seed']}) against "
                         f"{sample_metric['real']} {sample_metric['real_split']} examples, in {sample_metric['features']};"
                         " KID over 100 subsets; precision/recall k=3, density/coverage k=5")
            break
    for r in results:
        own = {k: v for k, v in (r["train"]).items() if (suite.get("train") or {}).get(k, v) != v or k == "steps"}
        lines.append(f"{r['label']}: {r['model']} {json.dumps(r['model_config'])}; train {json.dumps(own)}")
    return lines


def write_outputs(suite: dict[str, Any], out: Path, results: list[dict[str, Any]], data) -> Path:
    from genzoo.report.html import loss_curves, write_report
    from genzoo.report.render import save_samples
    from genzoo.report.tables import format_table
    from genzoo.train.logging import read_metrics

    out.mkdir(parents=True, exist_ok=True)
    rows = [flat_row(r) for r in results]
    clean = [{k: v for k, v in r.items() if k != "_grid"} for r in results]
    (out / "results.json").write_text(json.dumps({"suite": suite["name"], "description": suite.get("description"),
                                                  "data": suite.get("data"), "train": suite.get("train"),
                                                  "evaluate": suite.get("evaluate"), "results": clean}, indent=2,
                                                 default=float))
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    used = [c for c in COLUMNS if any(not (isinstance(r[c], float) and math.isnan(r[c])) and r[c] != "" for r in rows)]
    settings = settings_lines(suite, results)
    md = [f"# bench `{suite['name']}`", "", suite.get("description") or "", "",
          "| " + " | ".join(used) + " |", "|" + "---|" * len(used)]
    for r in rows:
        md.append("| " + " | ".join(_md(r[c]) for c in used) + " |")
    md += ["", "Settings:", ""] + [f"- {s}" for s in settings]
    (out / "results.md").write_text("\n".join(md) + "\n")
    print(format_table(rows, [c for c in used if c not in ("likelihood", "family")]))
    shown = random_rows(data.fixed("test").x, 64, seed=0)
    rep = suite.get("report") or {}
    figures = [(rep.get("real", "real test examples"), save_samples(shown, data.spec, out / "samples-real.png"))]
    for r in results:
        figures.append((f"{r['label']} samples", save_samples(r["_grid"], data.spec, out / f"samples-{r['label']}.png")))
    figures.append(("loss curves", loss_curves({r["label"]: read_metrics(out / "runs" / r["label"]) for r in results},
                                               out / "loss-curves.png")))
    return write_report(out / rep.get("file", "index.html"), title=rep.get("title", f"genzoo bench: {suite['name']}"),
                        intro=suite.get("description") or "", columns=used, rows=rows, figures=figures,
                        notes=[*rep.get("notes", []), *settings])


def _md(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
