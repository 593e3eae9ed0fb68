"""Draw samples from a trained run: a PNG grid for images, a scatter plot for 2-D data,
text or MIDI/MusicXML files for sequences, WAV files and a spectrogram for sound, or (--gif) an animation of a Markov-chain
sampler. ``--prompt``/``--primer`` start sequences (and images, for raster-order
models) from given content; see :mod:`genzoo.tasks.primer`."""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "draw samples from a trained run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file, written under exactly this name: an image grid (.png, .jpg, ...), "
                        "text (.txt), a melody (.mid or .musicxml; several samples are numbered beside it: "
                        "NAME-1.mid, NAME-2.mid, ...) or their piano roll (.png), sound (.wav, numbered the same "
                        "way, with the spectrograms in NAME.png beside it) or its spectrograms (.png); a name "
                        "without a suffix gets the data's usual one (a folder of MIDI + MusicXML for music, "
                        "of WAV files and spectrogram.png for audio). "
                        "Default: RUN/samples/sample-seedS.png")
    add_run_arguments(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--length", type=int, help="sequence models: tokens (audio: samples) to generate "
                   "(default: the training length)")
    p.add_argument("--prompt", help="sequence models: text to continue (characters of the model's vocabulary)")
    p.add_argument("--temperature", type=float, help="sequence models: divide the logits (0 = greedy)")
    p.add_argument("--top-k", type=int, help="sequence models: keep the k most likely tokens")
    p.add_argument("--top-p", type=float, help="sequence models: nucleus sampling with mass p")
    p.add_argument("--primer", metavar="FILE",
                   help="start from a file: a MIDI/MusicXML/ABC melody (music runs), a WAV clip (audio runs), "
                        "a text file (text runs), "
                        "or an image whose top rows are kept (image models that complete in raster order)")
    p.add_argument("--primer-rows", type=int,
                   help="image primers: rows to keep (default: all rows of a partial image, half of a full one)")
    p.add_argument("--steps", type=int, help="diffusion models: sampler steps (ncsn: Langevin steps per noise level; "
                        "default: the run's sample_steps)")
    p.add_argument("--sampler", help="diffusion models: ddim or ddpm (ddpm); heun, euler or midpoint (flow_matching); "
                        "langevin (ncsn)")
    p.add_argument("--eta", type=float, help="ddpm with the ddim sampler: noise from 0 (deterministic) to 1")
    p.add_argument("--guidance", type=float,
                   help="class-conditional diffusion runs: classifier-free guidance weight (0 = unconditional)")
    p.add_argument("--label", type=int, help="class-conditional runs: draw every sample from this class")
    p.add_argument("--text", help='text-to-image runs (t2i_gan; ddpm, flow_matching, ncsn with text=true): draw every sample for this caption, e.g. "a thick 3"')
    p.add_argument("--gif", metavar="FILE",
                   help="Markov-chain models (rbm, dbm, gsn) and diffusion models: write the sampling chain, "
                        "from noise to samples, as an animated GIF (diffusion: with --sampler, --eta, "
                        "--guidance, --label)")
    p.add_argument("--chain-steps", type=int, default=200,
                   help="chain length for --gif (default 200; --steps, when given, sets it)")
    p.add_argument("--frames", type=int, default=50, help="frames in the GIF (default 50)")


def execute(args: argparse.Namespace) -> int:
    import torch

    from genzoo.errors import GenzooError
    from genzoo.report.render import check_out_suffix, save_samples
    from genzoo.train.distributed import resolve_device

    if args.n <= 0:
        raise GenzooError(f"bad value {args.n} for -n: must be > 0")
    loaded = load_run_from_args(args.run, args, device=str(resolve_device(args.device)))
    if args.out:
        check_out_suffix(loaded.spec, args.out)
    g = torch.Generator().manual_seed(args.seed)
    if args.gif:
        from genzoo.report.render import save_chain_gif
        from genzoo.tasks.sampling import chain_with_options

        steps = args.chain_steps if args.steps is None else args.steps
        frames = chain_with_options(loaded.model, args.n, steps=steps, frames=args.frames, generator=g,
                                    label=args.label, sampler=args.sampler, eta=args.eta, guidance=args.guidance)
        path = save_chain_gif(frames.cpu(), loaded.spec, Path(args.gif))
        print(f"wrote a {len(frames)}-frame chain of {args.n} samples ({steps} steps) to {path}")
        return 0
    from genzoo.tasks import generate

    if args.primer and loaded.spec.kind == "image":
        from PIL import Image

        out = Path(args.out) if args.out else loaded.path / "samples" / f"primer-seed{args.seed}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(generate.complete_image_primer(loaded, args.primer, samples=args.n, rows=args.primer_rows,
                                                       seed=args.seed)).save(out)
        print(f"wrote the primer (first, covered part tinted) and {args.n} completions to {out}")
        return 0
    from genzoo.data.audio import is_audio
    from genzoo.tasks.primer import is_music

    decoding = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}
    if (args.prompt is not None or args.primer or args.length is not None or is_music(loaded.spec)
            or is_audio(loaded.spec) or any(v is not None for v in decoding.values())):
        gen = generate.generate_sequences(loaded, args.n, length=args.length, prompt=args.prompt,
                                          primer=args.primer, seed=args.seed, **decoding)
        kind = {"music": "melodies", "audio": "audio"}.get(gen.modality, "generate")
        out = generate.write_generated(gen, loaded.spec, Path(args.out) if args.out
                                       else loaded.path / "samples" / f"{kind}-seed{args.seed}")
        if gen.music:
            what = "as MIDI and MusicXML, with a piano roll, in" if out.is_dir() else "to"
            print(f"wrote {args.n} melodies ({gen.ids.shape[1]} tokens each, primer {gen.prompt_len}) {what} {out}")
        elif gen.modality == "audio":
            rate = int(loaded.spec.extra["sample_rate"])
            what = "as WAV files with their spectrograms in" if out.is_dir() else "to"
            print(f"wrote {args.n} sounds ({gen.ids.shape[1]} samples = {gen.ids.shape[1] / rate:.2f} s at {rate} Hz "
                  f"each, primer {gen.prompt_len}) {what} {out}")
        else:
            from genzoo.data.text import decode_text

            print(decode_text(gen.ids[0], loaded.spec.vocabulary))
            print(f"wrote {args.n} texts to {out}")
        return 0
    from genzoo.tasks.sampling import sample_with_options

    with torch.no_grad():
        x = sample_with_options(loaded.model, args.n, generator=g, label=args.label, text=args.text, steps=args.steps,
                                sampler=args.sampler, eta=args.eta, guidance=args.guidance).cpu()
    reference = None
    if loaded.spec.kind == "vector" and loaded.spec.shape == (2,):
        from genzoo.run import load_data

        reference = load_data(loaded.config, download=False).test.x[:2000]
    out = Path(args.out) if args.out else loaded.path / "samples" / f"sample-seed{args.seed}.png"
    written = save_samples(x, loaded.spec, out, title=f"{loaded.config.model} samples", reference=reference)
    print(f"wrote {args.n} samples to {written}")
    return 0
