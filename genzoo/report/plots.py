"""Plots for evaluation results: learning curves, confusion matrices, ROC curves,
reject-option curves and score histograms. Each writes one PNG (matplotlib, Agg
backend) and returns its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curve_png(rows: list[dict[str, Any]], path: Path, *, title: str,
                       series: dict[str, str] | None = None) -> Path:
    """Test accuracy against the number of labelled examples (log scale), one line per
    ``series`` entry (row key -> legend label; default: generative vs discriminative)."""
    plt = _plt()
    series = series or {"generative_accuracy": "generative (Bayes rule)", "discriminative_accuracy": "discriminative MLP"}
    fig, ax = plt.subplots(figsize=(5, 3.4), dpi=100)
    n = [r["labelled"] for r in rows]
    for (key, label), style in zip(series.items(), ["o-", "s--", "^:", "d-."]):
        ax.plot(n, [r[key] for r in rows], style, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def confusion_matrix_png(cm: torch.Tensor, path: Path, *, title: str) -> Path:
    """Rows: true class; columns: predicted class; counts written in the cells."""
    plt = _plt()
    K = cm.shape[0]
    fig, ax = plt.subplots(figsize=(0.45 * K + 1.5, 0.45 * K + 1.2), dpi=100)
    ax.imshow(cm.numpy(), cmap="Blues")
    for i in range(K):
        for j in range(K):
            if cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(K))
    ax.set_yticks(range(K))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def roc_png(panels: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor, float]]], path: Path, *,
            title: str) -> Path:
    """ROC curves, one panel per score: score -> {outlier set: (FPR, TPR, AUROC)}."""
    plt = _plt()
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.7), dpi=100, squeeze=False)
    for ax, (score, curves) in zip(axes[0], panels.items()):
        for name, (fpr, tpr, auc) in curves.items():
            ax.plot(fpr.numpy(), tpr.numpy(), label=f"{name} ({auc:.3f})", lw=1.3)
        ax.plot([0, 1], [0, 1], ":", c="0.6")
        ax.set_title(f"score: {score}", fontsize=9)
        ax.set_xlabel("false positive rate", fontsize=8)
        ax.set_ylabel("true positive rate", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="lower right", title="outliers (AUROC)", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def reject_curve_png(rows: list[dict[str, Any]], path: Path, *, title: str, operating: float | None = None) -> Path:
    """Classification with a reject option against the threshold: accuracy on the
    accepted clean inputs, share of clean inputs rejected, share of outliers rejected
    (pooled, and per set in thin lines); ``operating`` marks the chosen threshold."""
    plt = _plt()
    rows = [r for r in rows if 0 <= r["threshold"] < float("inf")]  # scores are >= 0
    tau = [r["threshold"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.2, 3.6), dpi=100)
    acc = [r["accuracy_accepted"] if r["accuracy_accepted"] is not None else float("nan") for r in rows]
    ax.plot(tau, acc, "-", lw=2, c="C0", label="accuracy on accepted clean inputs")
    ax.plot(tau, [r["clean_rejected"] for r in rows], "--", lw=2, c="C1", label="clean inputs rejected")
    if rows and rows[0]["outliers_rejected"] is not None:
        ax.plot(tau, [r["outliers_rejected"] for r in rows], "-", lw=2, c="C3", label="outliers rejected (all)")
        for i, name in enumerate(rows[0]["rejected"]):
            ax.plot(tau, [r["rejected"][name] for r in rows], ":", lw=1, c=f"C{4 + i}", label=f"  {name}")
    if operating is not None and operating != float("inf"):
        ax.axvline(operating, c="0.5", lw=0.8)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("reject threshold (min over classes of |NLL - typical| / std)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.set_xlim(left=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def score_histograms_png(scores: dict[str, torch.Tensor], path: Path, *, title: str, xlabel: str) -> Path:
    """Overlaid histograms of a score for several sets of inputs."""
    plt = _plt()
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=100)
    finite = {name: s[torch.isfinite(s)].numpy() for name, s in scores.items()}
    values = np.concatenate([v for v in finite.values() if len(v)] or [np.zeros(1)])
    bins = np.linspace(values.min(), values.max() + 1e-9, 60)  # shared, so the sets compare
    for name, v in finite.items():
        if len(v):
            ax.hist(v, bins=bins, alpha=0.5, density=True, label=name)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def trajectories_png(trajectories: dict[str, torch.Tensor], path: Path, *, title: str) -> Path:
    """Iterates (T, 2) of each method in the (x, y) plane, the equilibrium marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 5.0), dpi=100)
    for name, t in trajectories.items():
        p = t.numpy()
        ax.plot(p[:, 0], p[:, 1], lw=1.0, label=name)
        ax.plot(p[-1, 0], p[-1, 1], "o", ms=3, c=ax.lines[-1].get_color())
    ax.plot([0], [0], "k*", ms=10, label="equilibrium (0, 0)")
    ax.plot([t[0, 0].item() for t in trajectories.values()][:1], [t[0, 1].item() for t in trajectories.values()][:1],
            "ks", ms=5, label="start")
    lim = 1.2 * max(3.0, max(float(t[:, :].abs().max()) for t in trajectories.values() if len(t)))
    lim = min(lim, 8.0)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("x (minimizes x*y)")
    ax.set_ylabel("y (maximizes x*y)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def snapshots_png(rows: dict[str, list[tuple[int, torch.Tensor]]], path: Path, *, reference: dict[str, torch.Tensor],
                  title: str) -> Path:
    """A grid of scatter plots: one row per setting, one column per training snapshot,
    the real data in grey behind the samples. ``reference`` maps a row's first path
    component (the toy shape) to real points."""
    plt = _plt()
    names = list(rows)
    cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(names), cols, figsize=(2.1 * cols, 2.1 * len(names)), dpi=90, squeeze=False)
    for r, name in enumerate(names):
        ref = reference[name.split("/")[0]].numpy()
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(rows[name]):
                ax.axis("off")
                continue
            step, x = rows[name][c]
            ax.scatter(ref[:, 0], ref[:, 1], s=1, c="0.8")
            ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), s=1, c="tab:blue")
            b = 1.1 * float(abs(ref).max())
            ax.set_xlim(-b, b)
            ax.set_ylim(-b, b)
            ax.set_aspect("equal")
            if c == 0:
                ax.set_ylabel(name, fontsize=6)
            ax.set_title(f"step {step}", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pianoroll_png(melodies: list, vocabulary, path: Path, *, title: str, rows: int = 8) -> Path:
    """Piano rolls of token melodies (one panel each, time in quarter notes, MIDI pitch)."""
    from genzoo.data.melody import decode_tokens

    plt = _plt()
    melodies = melodies[:rows]
    fig, axes = plt.subplots(len(melodies), 1, figsize=(8, 1.1 * len(melodies) + 0.4), dpi=100, squeeze=False)
    for ax, ids in zip(axes[:, 0], melodies):
        t = 0.0
        for n in decode_tokens(ids, vocabulary).flatten().notesAndRests:
            q = float(n.quarterLength)
            if n.isNote:
                ax.broken_barh([(t, q * 0.95)], (n.pitch.midi - 0.4, 0.8), color="tab:blue")
            t += q
        ax.set_xlim(0, max(t, 1))
        ax.tick_params(labelsize=6)
        ax.set_ylabel("pitch", fontsize=6)
    axes[-1, 0].set_xlabel("time (quarter notes)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
