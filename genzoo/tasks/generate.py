"""Continue text, melodies and sound with a sequence model, and complete image primers: what
``genzoo sample --prompt/--primer/--length/--temperature/--top-k/--top-p`` does.

Decoding options are checked once, by the models' own
:func:`genzoo.models.autoregressive.decoding.check_decoding`, before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.errors import GenzooError


@dataclass
class Generated:
    """Token sequences ``ids`` (n, P + length) drawn after a prompt of ``prompt_len`` tokens;
    ``modality`` is ``text``, ``music`` or ``audio`` (mu-law codes)."""

    ids: torch.Tensor
    prompt_len: int
    modality: str = "text"

    @property
    def music(self) -> bool:
        return self.modality == "music"


def generate_sequences(loaded: Any, n: int, *, length: int | None = None, prompt: str | None = None,
                       primer: str | Path | None = None, seed: int = 0, temperature: float | None = None,
                       top_k: int | None = None, top_p: float | None = None) -> Generated:
    """``n`` continuations from a text, music or audio run (a :class:`genzoo.run.LoadedRun`):
    after ``prompt`` (text runs) or the melody, sound or text in ``primer``, ``length`` new
    tokens (default: the training window), drawn with the decoding controls and ``seed``."""
    from genzoo.data.audio import is_audio
    from genzoo.data.text import encode_text
    from genzoo.models.autoregressive.decoding import check_decoding
    from genzoo.tasks.primer import is_music, read_sequence_primer

    model, spec = loaded.model, loaded.spec
    if not hasattr(model, "generate") or (spec.vocabulary is None and not is_audio(spec)):
        raise GenzooError(f"--prompt/--primer/--length/--temperature/--top-k/--top-p are for text, music and "
                          f"audio models; {model.name!r} on {spec.name!r} does not generate token sequences")
    decoding = {k: v for k, v in {"temperature": temperature, "top_k": top_k, "top_p": top_p}.items()
                if v is not None}
    check_decoding(decoding.get("temperature", 1.0), decoding.get("top_k"), decoding.get("top_p"))
    if prompt is not None and primer:
        raise GenzooError("give --prompt or --primer, not both")
    modality = "music" if is_music(spec) else "audio" if is_audio(spec) else "text"
    if prompt is not None and modality != "text":
        raise GenzooError("--prompt is text; start a melody with --primer FILE (MIDI, MusicXML or ABC)"
                          if modality == "music" else "--prompt is text; start sound with --primer CLIP.wav")
    length = length if length is not None else spec.shape[0]
    if length < 1:
        raise GenzooError("bad value for --length: must be >= 1")
    if primer:
        ids = read_sequence_primer(primer, spec)
    else:
        ids = encode_text(prompt, spec.vocabulary) if prompt else None
    with torch.no_grad():
        out = model.generate(n, length, prompt=ids, generator=torch.Generator().manual_seed(seed), **decoding)
    return Generated(out.cpu(), 0 if ids is None else len(ids), modality)


def write_generated(gen: Generated, spec: Any, out: Path) -> Path:
    """Melodies and sound as :func:`genzoo.report.render.save_samples` writes them; texts
    as one ``.txt`` (a name without a suffix gets one), separated by ``---`` lines."""
    from genzoo.data.text import decode_text
    from genzoo.report.render import save_samples

    if gen.modality != "text":
        return save_samples(gen.ids, spec, out)
    out = out if out.suffix else out.with_suffix(".txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n---\n\n".join(decode_text(row, spec.vocabulary) for row in gen.ids) + "\n")
    return out


def complete_image_primer(loaded: Any, primer: str | Path, *, samples: int, rows: int | None = None,
                          seed: int = 0) -> np.ndarray:
    """Complete the image in ``primer`` (its top ``rows`` kept) ``samples`` times; returns
    the picture: the primer with its covered part tinted, then the completions (uint8 RGB)."""
    from genzoo.report.render import grid_from_rgb, to_rgb_uint8
    from genzoo.tasks.complete import complete_images, shade_covered
    from genzoo.tasks.primer import read_image_primer

    x, observed = read_image_primer(primer, loaded.spec, rows=rows)
    comps = complete_images(loaded.model, x[None], observed, samples=samples, seed=seed)[0]
    cells = np.concatenate([shade_covered(x[None], observed, loaded.spec), to_rgb_uint8(comps, loaded.spec)])
    return grid_from_rgb(cells, ncol=min(len(cells), 9))
