"""Does an audio WaveNet generalise to new melodies, and to new instruments?

Scores a run trained on the built-in ``audio`` corpus on tunes rendered again by the
synthesizer (:mod:`genzoo.data.synth`) with the instrument swapped: the run's test tunes
played by their own instrument (what ``genzoo eval`` scores) and by instruments no tune of
the corpus plays, and training tunes by their own. Bits per sample of the
non-overlapping windows of each tune (the run's window length), exact.

    python benchmarks/audio_instruments.py RUN [--weights auto] [--tunes-shown 6]

The run's data options (tunes, tune_seconds, instruments, synth_seed, test_fraction,
valid_files, seed) are read from its config. (The version-1 synthesizer, one timbre per
tune, was diagnosed the same way: docs/results.md, "WaveNet on audio".)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from genzoo.data import synth
from genzoo.data.audio import essen_melodies, split_test_valid
from genzoo.data.wav import mulaw_encode
from genzoo.run import load_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--weights", default="auto")
    ap.add_argument("--tunes-shown", type=int, default=6, help="how many test (and training) tunes to score")
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_run(args.run, weights=args.weights)
    o = loaded.config.data_options

    def get(key: str, default: object) -> object:
        return getattr(o, key, default)

    n, secs, k = int(get("tunes", 64)), float(get("tune_seconds", 5.0)), int(get("instruments", 4))
    seed, rate, window = int(get("synth_seed", 0)), int(get("rate", 8000)), int(get("window", 1024))
    test, valid = split_test_valid(n, float(get("test_fraction", 0.1)), int(get("valid_files", 0)), int(get("seed", 0)))
    train = [i for i in range(n) if i not in set(test) | set(valid)]
    melodies = essen_melodies(n)
    own = synth.instrument

    def bits(i: int, t: int) -> float:
        """Bits per sample of tune i played by instrument t."""
        synth.instrument = lambda s, index, instruments=k: (own(s, index, instruments)[0], synth.timbre(s, t))
        try:
            x = synth.render(melodies[i][1], rate, seed=seed, index=i, instruments=k, max_seconds=secs)
        finally:
            synth.instrument = own
        c = torch.from_numpy(mulaw_encode(x, loaded.spec.num_values)).unfold(0, window, window)
        with torch.no_grad():
            return float(-loaded.model.log_prob(c).sum() / c.numel() / np.log(2))

    m = args.tunes_shown
    t0 = time.perf_counter()
    print("| model on | bits per sample (per tune) | mean |\n|---|---|---:|")
    for name, pairs in ((f"{len(test[:m])} test tunes, own instrument", [(i, i % k) for i in test[:m]]),
                        (f"{len(test[:m])} test tunes, new instruments", [(i, 100 + i) for i in test[:m]]),
                        (f"{len(train[:m])} training tunes, own instrument", [(i, i % k) for i in train[:m]])):
        v = [bits(i, t) for i, t in pairs]
        print(f"| {name} | {', '.join(f'{b:.2f}' for b in v)} | {np.mean(v):.2f} |", flush=True)
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
