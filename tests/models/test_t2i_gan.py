"""t2i_gan: the caption reaches the samples, the matching-aware discriminator sees
mismatched captions, unknown words and missing captions are refused."""

from __future__ import annotations

import pytest
import torch

from genzoo.data import captions as cap
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.registry import build_model
from tests.helpers import bold_copy, caption_batch

VOCAB = cap.template_vocabulary()
SPEC = DataSpec("tiny-text", "image", (1, 8, 8), "continuous", value_range=(0.0, 1.0),
                extra={"captions": {"vocabulary": VOCAB, "phrasings": 2, "max_words": 5,
                                    "examples": ["a thick 3", "a thin seven leaning left"]}})
TINY = {"channels": 4, "latent_dim": 8, "word_dim": 8, "text_dim": 8}


def _bold(model):
    """A copy with large random weights: two captions must give different images."""
    return bold_copy(model, scale=0.5)


def _batch(n=6):
    return caption_batch(VOCAB, n)


@pytest.mark.parametrize("prompts", [("a thick 3", "a thin 3"), ("a 3 leaning left", "a 3 leaning right"),
                                     ("a thick 3", "a thick 8")])
def test_the_prompt_changes_samples_drawn_with_the_same_seed(prompts):
    torch.manual_seed(0)
    m = _bold(build_model("t2i_gan", SPEC, TINY))
    draws = [m.sample(4, condition=m.encode_text(p, 4), generator=torch.Generator().manual_seed(7)) for p in prompts]
    again = m.sample(4, condition=m.encode_text(prompts[0], 4), generator=torch.Generator().manual_seed(7))
    assert torch.equal(draws[0], again) and not torch.equal(draws[0], draws[1])


def test_padding_does_not_change_the_caption_embedding():
    torch.manual_seed(0)
    m = _bold(build_model("t2i_gan", SPEC, TINY))
    short, padded = cap.encode("a thick 3", VOCAB), cap.encode("a thick 3", VOCAB, length=8)
    enc = m.generator.text
    assert torch.allclose(enc(short[None]), enc(padded[None]), atol=1e-6)


def test_discriminator_sees_mismatched_captions():
    torch.manual_seed(0)
    on = build_model("t2i_gan", SPEC, TINY)
    off = build_model("t2i_gan", SPEC, {**TINY, "mismatch": 0.0})
    assert "d_mismatch" in on.discriminator_loss(_batch()) and "d_mismatch" not in off.discriminator_loss(_batch())


def test_unknown_words_missing_captions_and_wrong_conditions_are_refused():
    m = build_model("t2i_gan", SPEC, TINY)
    with pytest.raises(GenzooError, match="purple"):
        m.encode_text("a purple 3", 2)
    with pytest.raises(GenzooError, match="captioned batches"):
        m.discriminator_loss({"x": torch.rand(4, 1, 8, 8)})
    with pytest.raises(GenzooError, match="word ids"):
        m.sample(2, condition=torch.tensor([3, 4]))  # class labels are no caption
    with pytest.raises(IncompatibleDataError, match="captioned images"):
        build_model("t2i_gan", DataSpec("plain", "image", (1, 8, 8), "binary", num_classes=10))
