"""Every command on tiny data: list, train (flags, recipes), sample, eval, quickstart."""

from __future__ import annotations

import json

from PIL import Image

from genzoo.cli.main import main


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("gmm", "made", "vae", "dcgan", "digits", "mnist", "binarized_mnist", "toy2d", "images"):
        assert name in out


def test_train_sample_eval_on_digits(tmp_path, capsys):
    run = tmp_path / "made"
    assert main(["train", "made", "--data", "digits", "--steps", "30", "--batch-size", "32",
                 "--set", "hidden=32,32", "--set", "train.sample_every=15", "--run-dir", str(run),
                 "--no-progress"]) == 0
    for f in ("config.json", "model.safetensors", "metrics.jsonl", "samples/step-000015.png"):
        assert (run / f).exists(), f
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"] == "made" and cfg["model_config"]["hidden"] == [32, 32]
    assert cfg["spec"]["value_type"] == "categorical" and cfg["train"]["steps"] == 30
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 30 and "model/loss" in rows[-1]
    capsys.readouterr()

    out_png = tmp_path / "s.png"
    assert main(["sample", str(run), "-n", "9", "--seed", "2", "--out", str(out_png)]) == 0
    assert Image.open(out_png).size[0] > 8 * 3
    out_jpg = tmp_path / "s.jpg"  # the name given is the file written, in its format
    assert main(["sample", str(run), "-n", "4", "--out", str(out_jpg)]) == 0
    assert Image.open(out_jpg).format == "JPEG" and not (tmp_path / "s.png.png").exists()
    capsys.readouterr()
    assert main(["sample", str(run), "--out", str(tmp_path / "s.txt")]) == 2
    assert "'.txt'" in capsys.readouterr().err and not (tmp_path / "s.txt").exists()

    assert main(["eval", str(run), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["kind"] == "exact" and res["n"] == 359
    assert res["nll_nats"] > 0 and abs(res["bits_per_dim"] - res["nll_nats"] / (64 * 0.6931471805599453)) < 1e-9


def test_recipe_file_and_precedence(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {name: vae, latent_dim: 3, arch: mlp, hidden: 16}\n"
                      "data: {name: digits, binarize: threshold}\n"
                      "train: {steps: 4, lr: 0.002}\n")
    run = tmp_path / "vae"
    assert main(["train", "--config", str(recipe), "--set", "latent_dim=5", "--steps", "6",
                 "--run-dir", str(run), "--no-progress"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"] == "vae" and cfg["model_config"]["latent_dim"] == 5  # --set beats recipe
    assert cfg["train"]["steps"] == 6 and cfg["train"]["lr"] == 0.002      # flag beats recipe
    assert cfg["spec"]["value_type"] == "binary"
    capsys.readouterr()
    assert main(["eval", str(run), "--k", "5", "--json"]) == 0
    assert "IWAE" in json.loads(capsys.readouterr().out)["note"]


def test_toy2d_scatter(tmp_path):
    run = tmp_path / "gmm"
    assert main(["train", "gmm", "--data", "toy2d", "--set", "components=8", "--set", "train.batch_size=0",
                 "--steps", "20", "--set", "data.n_train=2000", "--run-dir", str(run), "--no-progress"]) == 0
    assert main(["sample", str(run), "-n", "500"]) == 0
    assert (run / "samples" / "sample-seed0.png").exists()


def test_resume_extends_a_finished_run(tmp_path):
    run = tmp_path / "r"
    base = ["train", "made", "--data", "digits", "--set", "hidden=16", "--run-dir", str(run), "--no-progress",
            "--checkpoint-every", "5"]
    assert main([*base, "--steps", "10"]) == 0
    assert main(["train", "--run-dir", str(run), "--resume", "--steps", "15", "--no-progress"]) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 15


def test_quickstart_smoke(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--scale", "0.01", "--no-progress"]) == 0
    text = capsys.readouterr().out
    for name in ("gmm", "made", "vae", "dcgan"):
        assert name in text
        assert (out / f"samples-{name}.png").exists()
        assert (out / "runs" / name / "model.safetensors").exists()
    html = (out / "report.html").read_text()
    assert "real test digits" in html and "loss curves" in html and "bits/dim" in html
    # nothing is overwritten: a second quickstart into the same place is refused
    assert main(["quickstart", "--out", str(out), "--scale", "0.01", "--no-progress"]) == 2


def test_lda_on_a_folder_of_documents(tmp_path, capsys):
    from genzoo.data.documents import synthetic_topics

    synthetic_topics(topics=3, vocab=40, docs=120, doc_length=40, folder=tmp_path / "docs")
    run = tmp_path / "lda"
    assert main(["train", "lda", "--data", "documents", "--data-dir", str(tmp_path / "docs"), "--set", "topics=3",
                 "--set", "data.min_df=1", "--steps", "20", "--batch-size", "32", "--run-dir", str(run),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "bits_per_dim" not in res and 1.0 < res["perplexity"] < 40
    assert main(["sample", str(run), "-n", "3"]) == 0
    assert "doc 0" in (run / "samples" / "sample-seed0.txt").read_text()


def test_text_generation_with_prompt_and_decoding_options(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 200)
    run = tmp_path / "lstm"
    assert main(["train", "lstm", "--data", "text", "--data-dir", str(corpus), "--set", "data.block_size=32",
                 "--set", "hidden=48", "--set", "layers=1", "--steps", "150", "--set", "train.lr=0.01",
                 "--run-dir", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "the cat ", "--length", "20", "--temperature", "0",
                 "-n", "2", "--seed", "1"]) == 0
    text = (run / "samples" / "generate-seed1.txt").read_text()
    assert text.startswith("the cat ") and "sat" in text
    assert main(["sample", str(run), "--prompt", "the", "--top-k", "3", "--top-p", "0.9", "--length", "10"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--prompt", "XYZ"]) == 2
    assert "not in the model's vocabulary" in capsys.readouterr().err
    assert main(["sample", str(run), "--top-p", "1.5"]) == 2
