"""Text-conditioned diffusion (``text=true`` on ddpm, flow_matching, ncsn): the caption
reaches the samples, the null caption is the unconditional path, guidance mixes the two,
and bad captions or uncaptioned data are refused."""

from __future__ import annotations

import pytest
import torch

from genzoo.data import captions as cap
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.registry import build_model
from tests.helpers import bold_copy, caption_batch

VOCAB = cap.template_vocabulary()
SPEC = DataSpec("tiny-text", "image", (1, 8, 8), "continuous", value_range=(0.0, 1.0), num_classes=10,
                extra={"captions": {"vocabulary": VOCAB, "phrasings": 2, "max_words": 5,
                                    "examples": ["a thick 3", "a thin seven leaning left"]}})
TINY = {"channels": 8, "channel_mults": [1, 2], "word_dim": 8, "text": True, "sample_steps": 4}
MODELS = ["ddpm", "flow_matching", "ncsn"]


def _tiny(name: str) -> dict:
    return {**TINY, **({"levels": 3, "sample_steps": 2} if name == "ncsn" else {})}


def _bold(model):
    return bold_copy(model, scale=0.3)


def _batch(n=6):
    return caption_batch(VOCAB, n, with_labels=True)


@pytest.mark.parametrize("name", MODELS)
def test_text_model_trains_through_its_caption_encoder(name):
    torch.manual_seed(0)
    m = _bold(build_model(name, SPEC, _tiny(name))).train()  # (a zero output layer passes no gradient back)
    assert m.has("text") and not m.has("conditional")  # captions replace the labels
    out = m.loss(_batch())["loss"]
    out.backward()
    assert torch.isfinite(out)
    enc = m.net.embed.text
    assert enc.words.weight.grad is not None and enc.words.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", MODELS)
def test_the_caption_changes_samples_drawn_with_the_same_seed(name):
    torch.manual_seed(0)
    m = _bold(build_model(name, SPEC, _tiny(name)))
    draw = {p: m.sample(3, condition=m.encode_text(p, 3), generator=torch.Generator().manual_seed(7))
            for p in ("a thick 3", "a thin 8")}
    again = m.sample(3, condition=m.encode_text("a thick 3", 3), generator=torch.Generator().manual_seed(7))
    assert torch.equal(draw["a thick 3"], again)
    assert not torch.equal(draw["a thick 3"], draw["a thin 8"])


def test_null_caption_is_the_unconditional_path_and_guidance_mixes_them():
    torch.manual_seed(0)
    m = _bold(build_model("ddpm", SPEC, _tiny("ddpm")))
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([500.0, 500.0])
    ids = m.encode_text("a thick 3", 2)
    null = torch.zeros_like(ids)
    with torch.no_grad():
        uncond, cond = m.net(x, t, null), m.net(x, t, ids)
        assert torch.allclose(m.predict(x, t, None, 0.0), uncond)
        assert torch.allclose(m.predict(x, t, ids, 0.0), uncond)
        assert torch.allclose(m.predict(x, t, ids, 1.0), cond)
        assert torch.allclose(m.predict(x, t, ids, 3.0), uncond + 3.0 * (cond - uncond), atol=1e-5)
    # the null caption is a learned vector, not the encoding of an empty text
    assert not torch.allclose(cond, uncond)


def test_caption_dropout_sends_the_null_caption():
    m = build_model("ddpm", SPEC, {**_tiny("ddpm"), "label_dropout": 1.0})
    torch.manual_seed(0)
    assert int(m.training_labels(_batch()).abs().sum()) == 0
    m = build_model("ddpm", SPEC, {**_tiny("ddpm"), "label_dropout": 0.0})
    ids = m.training_labels(_batch())
    assert ids.shape == (6, 5) and bool((ids != 0).any(1).all())


def test_guidance_alone_draws_the_kept_example_captions():
    m = _bold(build_model("ddpm", SPEC, _tiny("ddpm")))
    ids, *_ = m.sampling_options(4, condition=None, steps=None, sampler=None, eta=None, guidance=2.0)
    texts = [cap.decode(r, VOCAB) for r in ids]
    assert texts == ["a thick 3", "a thin seven leaning left"] * 2


def test_bad_captions_and_uncaptioned_data_are_refused():
    m = build_model("ddpm", SPEC, _tiny("ddpm"))
    with pytest.raises(GenzooError, match="not in the model's vocabulary: purple"):
        m.encode_text("a purple 3", 2)
    with pytest.raises(GenzooError, match="word ids"):
        m.sample(2, condition=torch.zeros(2, 3, dtype=torch.long))  # no word at all
    with pytest.raises(GenzooError, match="word ids"):
        m.sample(2, condition=torch.full((2, 3), len(VOCAB)))
    plain = DataSpec("plain", "image", (1, 8, 8), "continuous", value_range=(0.0, 1.0))
    with pytest.raises(IncompatibleDataError, match="needs captioned data"):
        build_model("ddpm", plain, _tiny("ddpm"))
    with pytest.raises(GenzooError, match="trains on captioned batches"):
        m.loss({"x": torch.rand(2, 1, 8, 8)})
