"""Draw samples from a trained run: a PNG grid for images, a scatter plot for 2-D data,
text or MIDI/MusicXML files for sequences, or (--gif) an animation of a Markov-chain
sampler. ``--prompt``/``--primer`` start sequences (and images, for raster-order
models) from given content; see :mod:`genzoo.tasks.primer`."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "draw samples from a trained run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file, written under exactly this name: an image grid (.png, .jpg, ...), "
                        "text (.txt), a melody (.mid or .musicxml; several samples are numbered beside it: "
                        "NAME-1.mid, NAME-2.mid, ...) or their piano roll (.png); a name without a suffix "
                        "gets the data's usual one (a folder of MIDI + MusicXML for music). "
                        "Default: RUN/samples/sample-seedS.png")
    p.add_argument("--weights", choices=["auto", "best", "ema", "model"], default="auto",
                   help="auto: the best validation weights when the run has them, else EMA, else the final ones")
    p.add_argument("--device", default="cpu")
    p.add_argument("--length", type=int, help="sequence models: tokens to generate (default: the training length)")
    p.add_argument("--prompt", help="sequence models: text to continue (characters of the model's vocabulary)")
    p.add_argument("--temperature", type=float, help="sequence models: divide the logits (0 = greedy)")
    p.add_argument("--top-k", type=int, help="sequence models: keep the k most likely tokens")
    p.add_argument("--top-p", type=float, help="sequence models: nucleus sampling with mass p")
    p.add_argument("--primer", metavar="FILE",
                   help="start from a file: a MIDI/MusicXML/ABC melody (music runs), a text file (text runs), "
                        "or an image whose top rows are kept (image models that complete in raster order)")
    p.add_argument("--primer-rows", type=int,
                   help="image primers: rows to keep (default: all rows of a partial image, half of a full one)")
    p.add_argument("--steps", type=int, help="diffusion models: sampler steps (default: the run's sample_steps)")
    p.add_argument("--sampler", help="diffusion models: ddim or ddpm (ddpm); heun, euler or midpoint (flow_matching)")
    p.add_argument("--eta", type=float, help="ddpm with the ddim sampler: noise from 0 (deterministic) to 1")
    p.add_argument("--guidance", type=float,
                   help="class-conditional diffusion runs: classifier-free guidance weight (0 = unconditional)")
    p.add_argument("--label", type=int, help="class-conditional runs: draw every sample from this class")
    p.add_argument("--gif", metavar="FILE", help="for Markov-chain models: write the sampling chain as an animated GIF")
    p.add_argument("--chain-steps", type=int, default=200, help="chain length for --gif (default 200)")
    p.add_argument("--frames", type=int, default=50, help="frames in the GIF (default 50)")


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.errors import GenzooError
    from genzoo.report.render import check_out_suffix, save_samples
    from genzoo.run import load_run
    from genzoo.train.distributed import resolve_device

    if args.n <= 0:
        raise GenzooError(f"bad value {args.n} for -n: must be > 0")
    loaded = load_run(args.run, weights=args.weights, device=str(resolve_device(args.device)))
    if args.out:
        check_out_suffix(loaded.spec, args.out)
    g = torch.Generator().manual_seed(args.seed)
    if args.gif:
        from genzoo.report.render import save_chain_gif

        loaded.model.require("chain")
        if loaded.spec.kind != "image":
            raise GenzooError("--gif animates image chains")
        if args.chain_steps < 1 or args.frames < 1:
            raise GenzooError("--chain-steps and --frames must be >= 1")
        every = max(1, args.chain_steps // args.frames)
        with torch.no_grad():
            frames = loaded.model.sample_chain(args.n, steps=args.chain_steps, generator=g, every=every).cpu()
        path = save_chain_gif(frames, loaded.spec, Path(args.gif))
        print(f"wrote a {len(frames)}-frame chain of {args.n} samples ({args.chain_steps} steps) to {path}")
        return 0
    decoding = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}
    if args.primer and loaded.spec.kind == "image":
        return _image_primer(loaded, args)
    from genzoo.tasks.primer import is_music

    if (args.prompt is not None or args.primer or args.length is not None or is_music(loaded.spec)
            or any(v is not None for v in decoding.values())):
        return _generate(loaded, args, g, {k: v for k, v in decoding.items() if v is not None})
    from genzoo.tasks.sampling import sample_with_options

    with torch.no_grad():
        x = sample_with_options(loaded.model, args.n, generator=g, label=args.label, steps=args.steps,
                                sampler=args.sampler, eta=args.eta, guidance=args.guidance).cpu()
    reference = None
    if loaded.spec.kind == "vector" and loaded.spec.shape == (2,):
        from genzoo.run import load_data

        reference = load_data(loaded.run, download=False).test.x[:2000]
    out = Path(args.out) if args.out else loaded.path / "samples" / f"sample-seed{args.seed}.png"
    written = save_samples(x, loaded.spec, out, title=f"{loaded.run.model} samples", reference=reference)
    print(f"wrote {args.n} samples to {written}")
    return 0


def _generate(loaded, args: argparse.Namespace, g, decoding: dict) -> int:
    """Continue a prompt or primer with a sequence model's ``generate``; write text or MIDI."""
    import torch

    from genzoo.data.text import decode_text, encode_text
    from genzoo.errors import GenzooError
    from genzoo.report.render import save_samples
    from genzoo.tasks.primer import is_music, read_sequence_primer

    model, spec = loaded.model, loaded.spec
    if not hasattr(model, "generate") or spec.vocabulary is None:
        raise GenzooError(f"--prompt/--primer/--length/--temperature/--top-k/--top-p are for text and music "
                          f"models; {model.name!r} on {spec.name!r} does not generate token sequences")
    if decoding.get("temperature", 1.0) < 0:
        raise GenzooError("bad value for --temperature: must be >= 0")
    if decoding.get("top_k") is not None and decoding["top_k"] < 1:
        raise GenzooError("bad value for --top-k: must be >= 1")
    if decoding.get("top_p") is not None and not 0 < decoding["top_p"] <= 1:
        raise GenzooError("bad value for --top-p: must be in (0, 1]")
    if args.prompt is not None and args.primer:
        raise GenzooError("give --prompt or --primer, not both")
    music = is_music(spec)
    if args.prompt is not None and music:
        raise GenzooError("--prompt is text; start a melody with --primer FILE (MIDI, MusicXML or ABC)")
    length = args.length if args.length is not None else spec.shape[0]
    if length < 1:
        raise GenzooError("bad value for --length: must be >= 1")
    if args.primer:
        prompt = read_sequence_primer(args.primer, spec)
    else:
        prompt = encode_text(args.prompt, spec.vocabulary) if args.prompt else None
    with torch.no_grad():
        ids = model.generate(args.n, length, prompt=prompt, generator=g, **decoding).cpu()
    default = loaded.path / "samples" / f"{'melodies' if music else 'generate'}-seed{args.seed}"
    if music:
        out = save_samples(ids, spec, Path(args.out) if args.out else default)
        what = "as MIDI and MusicXML, with a piano roll, in" if out.is_dir() else "to"
        print(f"wrote {args.n} melodies ({ids.shape[1]} tokens each, primer {0 if prompt is None else len(prompt)}) "
              f"{what} {out}")
        return 0
    texts = [decode_text(row, spec.vocabulary) for row in ids]
    out = Path(args.out) if args.out else default
    out = out if out.suffix else out.with_suffix(".txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n---\n\n".join(texts) + "\n")
    print(texts[0])
    print(f"wrote {args.n} texts to {out}")
    return 0


def _image_primer(loaded, args: argparse.Namespace) -> int:
    """Complete an image primer ``-n`` times; grid of (primer, completions)."""
    import numpy as np
    from PIL import Image

    from genzoo.report.render import grid_from_rgb, to_rgb_uint8
    from genzoo.tasks.complete import complete_images, shade_covered
    from genzoo.tasks.primer import read_image_primer

    x, observed = read_image_primer(args.primer, loaded.spec, rows=args.primer_rows)
    comps = complete_images(loaded.model, x[None], observed, samples=args.n, seed=args.seed)[0]
    cells = np.concatenate([shade_covered(x[None], observed, loaded.spec), to_rgb_uint8(comps, loaded.spec)])
    out = Path(args.out) if args.out else loaded.path / "samples" / f"primer-seed{args.seed}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid_from_rgb(cells, ncol=min(len(cells), 9))).save(out)
    print(f"wrote the primer (first, covered part tinted) and {args.n} completions to {out}")
    return 0
