"""LSTM language model over categorical sequences (characters or tokens).

Hochreiter & Schmidhuber (1997), "Long Short-Term Memory", Neural Computation 9(8);
used as a generative sequence model by Graves (2013), "Generating Sequences With
Recurrent Neural Networks", arXiv:1308.0850. ``cell`` swaps the recurrent cell: the
plain (Elman 1990) tanh RNN ``h_t = tanh(W x_t + U h_{t-1} + b)``, the GRU (Cho et al.
2014, "Learning Phrase Representations using RNN Encoder-Decoder", arXiv:1406.1078), or
the LSTM (the default); the rest of the model is the same for all three.

The chain rule ``p(x) = prod_t p(x_t | x_<t)`` with every conditional read off a stacked
LSTM: token ``t`` is predicted from the hidden state after reading ``x_0 .. x_{t-1}``.
Training is teacher forcing: the input is the sequence shifted right by one behind a
learned start token ``BOS`` (embedding index K, one past the data's K values), so
``log p(x)`` is exact and costs one pass. Sampling carries the recurrent state
(``(h, c)`` for the LSTM, ``h`` for the others) from token to token, one recurrent step
per new token (O(T)); ``generate(cached=False)`` is the naive O(T^2) path that re-reads
the whole prefix for every token, kept to check that the carried state changes nothing
(same generator, same tokens). Prompts and the decoding controls (temperature, top-k,
top-p) come from :mod:`genzoo.models.autoregressive.decoding`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.autoregressive.stream import TokenStreamModel
from genzoo.models.registry import register

# LSTM: (h, c), each (layers, B, hidden); plain RNN and GRU: h (layers, B, hidden)
State = tuple[torch.Tensor, torch.Tensor] | torch.Tensor

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


@dataclass
class LSTMConfig:
    """LSTM hyperparameters.

    Args:
        hidden: width of the LSTM state (h and c) in every layer.
        layers: number of stacked LSTM layers.
        dropout: dropout on the embeddings, between LSTM layers and before the output
            layer, during training only (log_prob and sampling never drop).
        embed: width of the token embeddings.
        cell: the recurrent cell: ``rnn`` (plain tanh RNN), ``gru`` or ``lstm``. Run
            directories saved before this option existed load as ``lstm``.
    """

    hidden: int = 128
    layers: int = 2
    dropout: float = 0.0
    embed: int = 64
    cell: Literal["rnn", "gru", "lstm"] = "lstm"

    def validate(self) -> None:
        positive(self.hidden, "hidden")
        positive(self.layers, "layers")
        positive(self.embed, "embed")
        if not 0.0 <= self.dropout < 1.0:
            raise GenzooError(f"bad value {self.dropout!r} for dropout: must be in [0, 1)")


@register
class LSTM(TokenStreamModel):
    """Stacked LSTM (or GRU, or tanh RNN) over categorical sequences; exact
    ``log_prob``, O(T) sampling."""

    name = "lstm"
    Config = LSTMConfig
    accepts = (("sequence", "categorical"),)

    def __init__(self, config: LSTMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.embedding = nn.Embedding(self.K + 1, config.embed)
        self.rnn = CELLS[config.cell](config.embed, config.hidden, num_layers=config.layers, batch_first=True,
                                      dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, self.K)

    # ---- network -----------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits (B, L, K) of the token after each input token (B, L), and the new state."""
        e = self.drop(self.embedding(inputs))  # (B, L, embed)
        h, state = self.rnn(e, state)  # (B, L, hidden)
        return self.head(self.drop(h)), state

    def stream_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, K) of every conditional, teacher forcing in one pass."""
        return self(self.with_bos(tokens[:, :-1]))[0]  # position t sees x_<t

    # ---- generation (TokenSampler) -------------------------------------------------
    def start(self, prefix: torch.Tensor, n: int) -> tuple[torch.Tensor, State]:
        """Read BOS and the prefix (n, L) once: next logits (n, K) and the carried state."""
        logits, state = self(self.with_bos(prefix))
        return logits[:, -1], state

    def step(self, tokens: torch.Tensor, cache: State) -> tuple[torch.Tensor, State]:
        """One recurrent step for the new tokens (n,), from the carried state."""
        logits, state = self(tokens[:, None], cache)
        return logits[:, -1], state

    def next_logits(self, prefix: torch.Tensor, n: int) -> torch.Tensor:
        """Naive: re-read BOS and the whole prefix (n, L)."""
        return self(self.with_bos(prefix))[0][:, -1]
