"""Evaluate a trained run: what ``genzoo eval`` computes, prints and keeps.

The likelihood (labelled exact, bound or estimate) where the model has one, else the
sample-quality metrics that suit the data. Every evaluation is also kept in the run
directory, ``RUN/eval.json`` (one entry per split and weights, the newest wins), so the
run's page in ``genzoo serve`` and later readers see it without recomputing.
"""

from __future__ import annotations

import inspect
import json
import os
import time
import warnings
from typing import Any

from genzoo.errors import GenzooError


def default_metrics(model: Any, spec: Any) -> list[str]:
    """nll where there is a likelihood; else what suits the data (and the model's own
    classifier's accuracy, if it has one)."""
    if model.likelihood is not None:
        return ["nll"]
    if model.has("classify"):
        return ["accuracy", "fid", "kid", "prdc"] if spec.kind == "image" else ["accuracy"]
    if spec.kind == "image":
        return ["fid", "kid", "prdc", "is"] if spec.num_classes else ["fid", "kid", "prdc"]
    if "modes" in spec.extra:
        return ["modes", "fid", "prdc"]
    raise GenzooError(f"model {model.name!r} has no likelihood and {spec.name!r} ({spec.describe}) has no "
                      "sample-quality metric; nothing to evaluate")


def evaluate_run(loaded: Any, *, metrics: list[str] | None = None, split: str = "test", samples: int | None = None,
                 seed: int = 0, k: int | None = None, ensemble: int | None = None, batch_size: int = 256,
                 features_root: str | None = None, progress: bool = True, keep: bool = True) -> dict[str, Any]:
    """Evaluate a :class:`genzoo.run.LoadedRun` on ``split``; returns the results (the
    NLL's keys at the top level, each sample metric under its name). ``k`` (importance
    samples) and ``ensemble`` (mask ensembles) go to ``log_prob`` for models that take
    them. With ``keep``, the results are also written to ``RUN/eval.json``."""
    from genzoo.evaluate.metrics import evaluate
    from genzoo.run import load_data

    model = loaded.model
    metrics = metrics or default_metrics(model, loaded.spec)
    if "nll" in metrics and model.likelihood is None:
        raise GenzooError(f"model {model.name!r} has no likelihood, so no NLL (it is an implicit model); "
                          "try --metrics fid,kid,prdc")
    if samples is not None and samples < 10:
        raise GenzooError(f"bad value {samples} for --samples: must be >= 10")
    kwargs = {}
    if k is not None:
        if "k" not in inspect.signature(model.log_prob).parameters:
            raise GenzooError(f"--k is for models whose likelihood is an importance-weighted bound; "
                              f"{model.name!r} has an {model.likelihood} likelihood")
        if k < 1:
            raise GenzooError(f"bad value {k} for --k: must be >= 1")
        kwargs["k"] = k
    if ensemble is not None:
        if "ensemble" not in inspect.signature(model.log_prob).parameters:
            raise GenzooError(f"--ensemble is for models with mask ensembles (made); {model.name!r} has none")
        kwargs["ensemble"] = ensemble
    data = load_data(loaded.config, download=False)
    res = evaluate(model, data, metrics, name=loaded.config.data, split=split, samples=samples, seed=seed,
                   root=loaded.config.data_dir, features_root=features_root, nll_kwargs=kwargs,
                   batch_size=batch_size, progress=progress)
    out = {"run": str(loaded.path), "model": loaded.config.model, "data": loaded.config.data, "split": split,
           "weights": loaded.weights}
    if "nll" in res:
        nll = res.pop("nll")
        if loaded.spec.value_type == "count":
            # bits per vocabulary entry means nothing for bags of words; per-word perplexity does
            nll.pop("bits_per_dim")
            if hasattr(model, "perplexity"):
                nll["perplexity"] = model.perplexity(data.fixed(split).x.to(model.device))
        out.update(nll)  # the NLL's keys at the top level
    out.update(res)
    if keep:
        keep_result(loaded.path, f"{split}/{loaded.weights}", out)
    return out


def keep_result(run_dir: Any, key: str, result: dict[str, Any]) -> None:
    """Add ``result`` under ``key`` to ``run_dir/eval.json`` (written atomically). A run
    directory that cannot be written to is only warned about: the numbers were printed."""
    path = run_dir / "eval.json"
    try:
        kept = json.loads(path.read_text()) if path.is_file() else {}
        if not isinstance(kept, dict):
            kept = {}
    except ValueError:  # a damaged file of our own: start it again
        kept = {}
    kept[key] = {**result, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tmp = path.with_name(f".eval.json.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(kept, indent=2) + "\n")
        tmp.replace(path)
    except OSError as e:
        warnings.warn(f"could not keep the results in {path} ({e.strerror or e})", stacklevel=2)


def read_kept(run_dir: Any) -> dict[str, Any]:
    """The evaluations kept in ``run_dir/eval.json`` (empty when there are none)."""
    try:
        kept = json.loads((run_dir / "eval.json").read_text())
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def summary_lines(out: dict) -> list[str]:
    """One line per metric, with its settings."""
    lines = []
    if "nll_nats" in out:
        if "bits_per_dim" in out:
            lines.append(f"NLL {out['nll_nats']:.3f} nats   {out['bits_per_dim']:.4f} bits/dim   "
                         f"({out['note']}; {out['n']} examples)")
        else:
            lines.append(f"NLL {out['nll_nats']:.3f} nats per document   ({out['note']}; {out['n']} examples)")
        if "perplexity" in out:
            lines.append(f"held-out perplexity {out['perplexity']:.2f} per word")
    counts = None
    for key in ("fid", "kid", "is", "prdc"):
        if key in out:
            r = out[key]
            counts = f"{r['samples']} samples vs {r['real']} {r['real_split']} examples, {r['features']}"
    if "fid" in out:
        lines.append(f"FID {out['fid']['value']:.3f}")
    if "kid" in out:
        r = out["kid"]
        lines.append(f"KID {r['value']:.5f} +/- {r['std']:.5f}   ({r['subsets']} subsets of {r['subset_size']})")
    if "is" in out:
        r = out["is"]
        lines.append(f"IS analogue {r['value']:.3f} +/- {r['std']:.3f}   (real data: {r['real_data_value']:.3f}; "
                     f"{r['splits']} splits)")
    if "prdc" in out:
        r = out["prdc"]
        lines.append(f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  (k={r['k_pr']})   "
                     f"density {r['density']:.3f}  coverage {r['coverage']:.3f}  (k={r['k_dc']})")
    if counts:
        lines.append(f"  [{counts}]")
    if "modes" in out:
        r = out["modes"]
        if "high_quality" in r:
            lines.append(f"modes {r['modes_covered']}/{r['modes_total']}   high quality {r['high_quality']:.1%}   "
                         f"reverse KL {r['reverse_kl']:.3f}   ({r['samples']} samples, {r['rule']})")
        else:
            lines.append(f"modes {r['modes_covered']}/{r['modes_total']}   KL to uniform {r['kl_to_uniform']:.3f}   "
                         f"({r['samples']} samples)")
    if "accuracy" in out:
        r = out["accuracy"]
        lines.append(f"classifier: test accuracy {r['accuracy']:.2%} ({r['errors']} errors of {r['examples']})")
    if "recon" in out:
        r = out["recon"]
        line = (f"reconstruction x -> encode -> decode: MSE {r['mse']:.4f}, L1 {r['l1']:.4f} per value in "
                f"{r['units']} units ({r['examples']} examples; the mean example: MSE {r['mean_example_mse']:.4f}, "
                f"L1 {r['mean_example_l1']:.4f})")
        lines.append(line)
        if "label_kept" in r:
            lines.append(f"  label recognised in {r['label_kept']:.2%} of the reconstructions ({r['label_kept_originals']:.2%} "
                         f"of the originals; {r['features']})")
    if "cas" in out:
        r = out["cas"]
        lines.append(f"CAS {r['accuracy']:.2%} (classifier trained on {r['train_examples']} samples; the same "
                     f"classifier on as many real examples: {r['real_data_accuracy']:.2%})")
    return lines
