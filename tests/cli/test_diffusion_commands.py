"""The diffusion models from the command line: sampler options, guidance and labels,
RePaint completion, and every bad sampling option as one line with exit code 2."""

from __future__ import annotations

import pytest
from PIL import Image

from genzoo.cli.main import main

TINY = ["--set", "channels=8", "--set", "channel_mults=1,2", "--set", "sample_steps=4"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusion-runs")
    ddpm, fm, made, ncsn = root / "ddpm", root / "fm", root / "made", root / "ncsn"
    assert main(["train", "ddpm", "--data", "digits", "--steps", "2", "--batch-size", "16", *TINY,
                 "--set", "timesteps=20", "--run-dir", str(ddpm), "--no-progress"]) == 0
    assert main(["train", "flow_matching", "--data", "digits", "--steps", "2", "--batch-size", "16", *TINY,
                 "--set", "conditional=false", "--run-dir", str(fm), "--no-progress"]) == 0
    assert main(["train", "made", "--data", "digits", "--steps", "2", "--set", "hidden=16",
                 "--run-dir", str(made), "--no-progress"]) == 0
    assert main(["train", "ncsn", "--data", "digits", "--steps", "2", "--batch-size", "16", *TINY,
                 "--set", "levels=3", "--set", "conditional=false", "--run-dir", str(ncsn), "--no-progress"]) == 0
    return {"ddpm": ddpm, "fm": fm, "made": made, "ncsn": ncsn}


def test_sample_with_sampler_options_guidance_and_a_label(runs, tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["sample", str(runs["ddpm"]), "-n", "4", "--steps", "5", "--sampler", "ddim", "--eta", "0",
                 "--guidance", "3.0", "--label", "7", "--out", str(out)]) == 0
    assert out.exists()
    assert main(["sample", str(runs["ddpm"]), "-n", "2", "--sampler", "ddpm", "--steps", "3",
                 "--out", str(tmp_path / "a.png")]) == 0
    assert main(["sample", str(runs["fm"]), "-n", "2", "--sampler", "midpoint", "--steps", "3",
                 "--out", str(tmp_path / "b.png")]) == 0
    assert main(["sample", str(runs["ddpm"]), "-n", "2", "--gif", str(tmp_path / "c.gif"), "--chain-steps", "4",
                 "--frames", "2"]) == 0
    assert (tmp_path / "c.gif").exists()
    # the chain of the sampler asked for: 6 ancestral steps, noise and every 2nd state
    assert main(["sample", str(runs["ddpm"]), "-n", "2", "--gif", str(tmp_path / "d.gif"), "--steps", "6",
                 "--frames", "3", "--sampler", "ddpm", "--label", "3"]) == 0
    assert Image.open(tmp_path / "d.gif").n_frames == 4
    assert main(["sample", str(runs["ncsn"]), "-n", "2", "--steps", "2", "--out", str(tmp_path / "d.png")]) == 0
    assert main(["sample", str(runs["ncsn"]), "-n", "2", "--gif", str(tmp_path / "e.gif"), "--chain-steps", "6",
                 "--frames", "3"]) == 0
    assert (tmp_path / "e.gif").exists()
    capsys.readouterr()


@pytest.mark.parametrize("model", ["ddpm", "fm", "ncsn"])
def test_complete_by_repaint(model, runs, tmp_path, capsys):
    out = tmp_path / "c.png"
    assert main(["complete", str(runs[model]), "--cover", "bottom-0.5", "-n", "2", "--count", "2",
                 "--steps", "4", "--out", str(out)]) == 0
    assert out.exists() and "covered pixels" in capsys.readouterr().out


@pytest.mark.parametrize("run,args,needle", [
    ("ddpm", ["--steps", "0"], "steps"),
    ("ddpm", ["--steps", "21"], "T = 20"),
    ("ddpm", ["--eta", "2"], "eta"),
    ("ddpm", ["--label", "12"], "10 classes"),
    ("ddpm", ["--sampler", "foo"], "no sampler 'foo'"),
    ("ddpm", ["--sampler", "heun"], "no sampler 'heun'"),
    ("ddpm", ["--guidance", "-1"], "guidance"),
    ("fm", ["--guidance", "3.0"], "unconditional"),
    ("fm", ["--label", "3"], "not class-conditional"),
    ("fm", ["--eta", "0.5"], "DDIM"),
    ("made", ["--steps", "10"], "takes no --steps"),
    ("ncsn", ["--steps", "0"], "steps"),
    ("ncsn", ["--sampler", "ddim"], "no sampler 'ddim'"),
    ("ncsn", ["--eta", "0.5"], "eta"),
    ("ncsn", ["--label", "3"], "not class-conditional"),
])
def test_bad_sampling_options_are_one_line_exit_2(runs, args, needle, run, capsys):
    rc = main(["sample", str(runs[run]), "-n", "2", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and needle in err, err


def test_ncsn_bad_settings_and_no_likelihood_are_one_line_exit_2(runs, tmp_path, capsys):
    rc = main(["train", "ncsn", "--data", "digits", "--steps", "1", "--set", "sample_steps=0",
               "--run-dir", str(tmp_path / "bad"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "sample_steps" in err, err
    rc = main(["eval", str(runs["ncsn"]), "--metrics", "nll"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "likelihood" in err, err
