"""What SimGAN refinement is for: training a classifier of real digits on simulated ones.

Shrivastava et al. (2017) train a model on refined synthetic images and test it on real
ones. Here, for a ``simgan`` run on ``glyph_mnist``: the same small CNN (the feature
network of :mod:`genzoo.evaluate.features`, the classifier behind FID and CAS, trained
with the same seed, steps and shift augmentation) is trained

(a) on the run's rendered training digits as they are (``raw``),
(b) on the same images passed through the refiner (``refined``),
(c) optionally (``real=True``) on as many real MNIST training digits (the ceiling),

and each is tested on the MNIST test set (labels from the MNIST files). Also measured:

* ``labels_kept``: the accuracy of classifier (a) on the refined images, against the
  labels of the rendered digits they came from; a refiner that turns a 7 into a 1 (label
  drift, the failure the self-regularisation term prevents) lowers it;
* with (c), ``real_net_reads``: how often the real-digit classifier reads each set of
  rendered digits (raw and refined) as their own label: refined digits that look more
  like MNIST digits of the right class score higher;
* ``mean_change``: the mean absolute change per pixel on the [0, 1] scale;
* ``per_digit``: each classifier's MNIST test accuracy per true digit, which shows where
  the simulated digits fall short (digits whose rendered shapes differ from handwriting).

``grid.png``: pairs of rows, rendered digits above their refined versions, two of each
digit. Everything lands in ``out`` with ``results.json``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.data.dataset import Dataset, Split, load_dataset, random_rows
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.evaluate.features import TrainedFeatures, train_feature_net
from genzoo.run import load_data

UNIT = DataSpec("digits-unit", "image", (1, 28, 28), "continuous", value_range=(0.0, 1.0), num_classes=10)
GRID_PER_DIGIT = 2


def check_run(loaded: Any) -> None:
    """Refuse runs that are not a refiner trained on labelled synthetic images."""
    if not callable(getattr(loaded.model, "refine_unit", None)):
        raise GenzooError(f"simgan-eval needs a simgan run; {loaded.path} holds a {loaded.config.model!r} model")
    if loaded.config.data != "glyph_mnist":
        raise GenzooError(f"simgan-eval needs a run trained on glyph_mnist (labelled rendered digits and MNIST); "
                          f"{loaded.path} was trained on {loaded.config.data!r}")


@torch.no_grad()
def refine(model: Any, x01: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Synthetic images in [0, 1] -> refined images in [0, 1] (the refiner in eval mode)."""
    was = model.training
    model.eval()
    try:
        parts = [model.refine_unit(x01[i:i + batch_size] * 2 - 1).cpu() for i in range(0, len(x01), batch_size)]
    finally:
        model.train(was)
    return ((torch.cat(parts) + 1) / 2).clamp(0, 1)


def train_on(x: torch.Tensor, y: torch.Tensor, test: Split, *, steps: int, batch_size: int,
             seed: int) -> TrainedFeatures:
    """The feature network trained on (x, y) in [0, 1] and tested on ``test``."""
    data = Dataset(UNIT, Split(x, y), test)
    return train_feature_net(data, epochs=1, min_steps=steps, batch_size=batch_size, seed=seed)


def accuracy(net: Any, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((net.probs(x).argmax(1) == y).double().mean())


def per_digit(net: Any, x: torch.Tensor, y: torch.Tensor) -> list[float | None]:
    """Accuracy on the images of each digit 0..9 (None for a digit absent from ``y``)."""
    hit = (net.probs(x).argmax(1) == y).double()
    return [float(hit[y == d].mean()) if bool((y == d).any()) else None for d in range(10)]


def grid_rows(raw: torch.Tensor, refined: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Images for a grid of 10 columns: rows of rendered digits 0..9, each followed by the
    same digits refined (``GRID_PER_DIGIT`` pairs of rows)."""
    rows = []
    for j in range(GRID_PER_DIGIT):
        members = [torch.nonzero(y == d)[:, 0] for d in range(10)]
        idx = torch.stack([m[j % len(m)] for m in members])  # a digit seen once repeats
        rows += [raw[idx], refined[idx]]
    return torch.cat(rows)


def _mean(values: list[Any]) -> Any:
    """The mean of numbers, or elementwise of equal-length lists (None stays None)."""
    if isinstance(values[0], list):
        return [None if v[0] is None else statistics.mean(v) for v in zip(*values)]
    return statistics.mean(values)


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def simgan_eval(loaded: Any, out: Path, *, steps: int = 600, batch_size: int = 64, count: int | None = None,
                test_count: int | None = None, real: bool = False, seed: int = 0,
                seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """Train the classifiers (a), (b) and (c if ``real``) and test them on MNIST; write
    ``out/grid.png`` and ``out/results.json``; returns the results.

    ``seed`` picks the digits (with ``count``, ``test_count``) and seeds the classifiers;
    ``seeds`` instead trains each classifier once per seed, and the accuracies (overall,
    per digit, labels kept, real-net reads) are means over the seeds, with the per-seed
    values, their spread and the paired refined - raw differences in ``per_seed``: on
    simulated training data a classifier's accuracy on real digits varies by points
    between seeds, more than refining may change it."""
    check_run(loaded)
    for key, v in (("steps", steps), ("batch_size", batch_size), ("count", count), ("test_count", test_count)):
        if v is not None and v < 1:
            raise GenzooError(f"bad value {v!r} for {key}: must be >= 1")
    seeds = [seed] if seeds is None else list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise GenzooError(f"bad seeds {seeds!r}: give one or more different seeds")
    data = load_data(loaded.config, download=False)
    synth = data.train
    n = len(synth) if count is None else min(count, len(synth))
    pick = random_rows(torch.arange(len(synth)), n, seed=seed)
    raw, y = synth.extra["source"][pick], synth.extra["source_y"][pick]
    if len(torch.unique(y)) < 10:
        raise GenzooError(f"count={n} leaves some digits without a rendered image; use a larger count")
    mnist = load_dataset("mnist", root=loaded.config.data_dir, download=False, scale="unit")
    test = mnist.test
    if test_count is not None and test_count < len(test):
        rows = random_rows(torch.arange(len(test)), test_count, seed=seed)
        test = Split(test.x[rows], test.y[rows])
    refined = refine(loaded.model, raw)
    real_rows = random_rows(torch.arange(len(mnist.train)), n, seed=seed)

    runs: list[dict[str, Any]] = []
    for s in tqdm(seeds, desc="classifier seeds", disable=len(seeds) < 2):
        nets = {"raw": train_on(raw, y, test, steps=steps, batch_size=batch_size, seed=s),
                "refined": train_on(refined, y, test, steps=steps, batch_size=batch_size, seed=s)}
        if real:
            nets["real"] = train_on(mnist.train.x[real_rows], mnist.train.y[real_rows], test, steps=steps,
                                    batch_size=batch_size, seed=s)
        one: dict[str, Any] = {"steps": nets["raw"].info["steps"],
                               "mnist_accuracy": {k: v.test_accuracy for k, v in nets.items()},
                               "labels_kept": accuracy(nets["raw"].net, refined, y),
                               "per_digit": {k: per_digit(v.net, test.x, test.y) for k, v in nets.items()}}
        if real:
            one["real_net_reads"] = {"raw": accuracy(nets["real"].net, raw, y),
                                     "refined": accuracy(nets["real"].net, refined, y)}
        runs.append(one)
    kinds = list(runs[0]["mnist_accuracy"])
    res: dict[str, Any] = {
        "run": str(loaded.path), "weights": loaded.weights, "synthetic_images": n, "mnist_test_images": len(test),
        "classifier": {"network": "genzoo.evaluate.features.FeatureNet", "steps": runs[0]["steps"],
                       "batch_size": batch_size, "seed": seeds[0], "seeds": seeds},
        "mnist_accuracy": {k: _mean([r["mnist_accuracy"][k] for r in runs]) for k in kinds},
        "labels_kept": _mean([r["labels_kept"] for r in runs]),
        "mean_change": float((refined - raw).abs().mean()),
    }
    if real:
        res["real_net_reads"] = {k: _mean([r["real_net_reads"][k] for r in runs]) for k in ("raw", "refined")}
    diffs = [r["mnist_accuracy"]["refined"] - r["mnist_accuracy"]["raw"] for r in runs]
    res["refined_minus_raw"] = _mean(diffs)
    res["per_digit"] = {k: _mean([r["per_digit"][k] for r in runs]) for k in kinds}
    res["per_seed"] = {"seeds": seeds, **{k: [r["mnist_accuracy"][k] for r in runs] for k in kinds},
                       "refined_minus_raw": diffs, "sd": {k: _sd([r["mnist_accuracy"][k] for r in runs]) for k in kinds},
                       "refined_minus_raw_sd": _sd(diffs), "refined_wins": sum(d > 0 for d in diffs)}
    out.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    from genzoo.report.render import image_grid

    grid = grid_rows(raw, refined, y)
    Image.fromarray(image_grid(grid, UNIT, ncol=10, min_cell=56)).save(out / "grid.png")
    res["grid"] = str(out / "grid.png")
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def format_results(res: dict[str, Any]) -> list[str]:
    """Human-readable lines of :func:`simgan_eval`'s results."""
    acc = res["mnist_accuracy"]
    names = {"raw": "(a) raw rendered digits", "refined": "(b) refined rendered digits", "real": "(c) real MNIST digits"}
    lines = [f"classifier trained on {res['synthetic_images']} images, {res['classifier']['steps']} steps; "
             f"MNIST test accuracy ({res['mnist_test_images']} images):"]
    lines += [f"  {names[k]:<30} {100 * v:6.2f}%" for k, v in acc.items()]
    ps = res.get("per_seed")
    if ps and len(ps["seeds"]) > 1:
        lines[0] = lines[0].replace("MNIST test accuracy", f"mean MNIST test accuracy over seeds {ps['seeds']}")
        lines[1:] = [f"{line} +/- {100 * ps['sd'][k]:.2f}" for line, k in zip(lines[1:], acc)]
        lines.append("per seed:     " + "".join(f"{s:>8}" for s in ps["seeds"]))
        lines += [f"  {k:<11}" + "".join(f"{100 * v:8.2f}" for v in ps[k]) for k in acc]
        lines.append(f"refined - raw: {100 * res['refined_minus_raw']:+.2f} +/- {100 * ps['refined_minus_raw_sd']:.2f} "
                     f"points (paired by seed); refined wins {ps['refined_wins']} of {len(ps['seeds'])} seeds")
    else:
        lines.append(f"refined - raw: {100 * res['refined_minus_raw']:+.2f} points")
    lines.append("per digit (MNIST test):" + "".join(f"{d:>6}" for d in range(10)))
    lines += [f"  {k:<21}" + "".join("     -" if v is None else f"{100 * v:6.1f}" for v in accs)
              for k, accs in res["per_digit"].items()]
    lines.append(f"labels kept (raw-digit classifier on refined digits): {100 * res['labels_kept']:.2f}%; "
                 f"mean change per pixel {res['mean_change']:.3f}")
    if "real_net_reads" in res:
        rr = res["real_net_reads"]
        lines.append(f"real-digit classifier reads raw digits {100 * rr['raw']:.2f}%, "
                     f"refined {100 * rr['refined']:.2f}% as their label")
    return lines

