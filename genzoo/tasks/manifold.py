"""The learned manifold of a model with a 2-D latent space (Kingma & Welling 2014, fig. 4).

Two pictures: decodings over a grid of the latent plane (grid points at Gaussian
quantiles, so equal areas carry equal prior mass), and the encoded test set coloured by
label.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel
from genzoo.tasks.interpolate import encode


def latent_dim(model: GenerativeModel) -> int:
    d = getattr(model.config, "latent_dim", None)
    if d is None:
        raise GenzooError(f"model {model.name!r} has no latent_dim setting")
    return int(d)


def manifold_grid(model: GenerativeModel, *, size: int = 15, label: int = 0) -> torch.Tensor:
    """Decodings over a size x size grid of the latent plane: (size*size, *shape).
    A conditional model decodes every point with class ``label``."""
    model.require("decode")
    if latent_dim(model) != 2:
        raise GenzooError(f"the manifold plot needs a 2-D latent space; this {model.name!r} has "
                          f"latent_dim={latent_dim(model)} (train with --set latent_dim=2)")
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, size))
    zy, zx = torch.meshgrid(q.flip(0), q, indexing="ij")  # rows top to bottom: z2 high to low
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)
    kw = {"condition": torch.full((len(z),), label, device=model.device)} if model.has("conditional") else {}
    with torch.no_grad():
        return model.decode(z.to(model.device), **kw).cpu()


def code_scatter(model: GenerativeModel, x: torch.Tensor, y: torch.Tensor | None, path: Path) -> Path:
    """Scatter of the 2-D mean codes of ``x`` coloured by label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cond = y if (model.has("conditional") and y is not None) else None
    z = encode(model, x, condition=cond).numpy()
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    if y is not None:
        sc = ax.scatter(z[:, 0], z[:, 1], c=y.numpy(), cmap="tab10", s=4)
        fig.colorbar(sc, ax=ax, label="label")
    else:
        ax.scatter(z[:, 0], z[:, 1], s=4)
    ax.set_xlabel("z1")
    ax.set_ylabel("z2")
    ax.set_title(f"{model.name}: encoded test set")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
