"""A hand-fused LSTM layer (an experiment of benchmarks/pixel_lstm_speed.py, not used by genzoo).

A single-direction LSTM layer with a hand-written backward, for long sequences on CPU.

``lstm_layer(x, weight_ih, weight_hh, bias, state)`` computes exactly what one layer of
``torch.nn.LSTM`` computes (same parameters, gate order [i, f, g, o]), organised for a
long sequence and a small batch:

* the input-to-hidden projection of all T positions is one matmul before the loop;
* each step is one fused gate matmul ``W_hh @ h`` (all four gates) written in place into
  a preallocated buffer, followed by in-place activations: no per-step allocation. The
  layout is transposed (units first, batch last) so that every gate of a step is one
  contiguous block: elementwise work on strided slices cost more than the matmuls;
* the backward pass (a :class:`torch.autograd.Function`) walks the steps in reverse
  doing one matmul per step for the gradient flowing to the previous state, and forms
  the weight gradient of ``W_hh`` in a single (4H x T*B) @ (T*B x H) matmul at the end
  instead of T small ones.

Results equal ``nn.LSTM``'s up to float rounding (checked by the benchmark, forward and
gradients). On the 2-core CPU it was not faster than ``nn.LSTM``, whose oneDNN kernel does
the same things (docs/results.md), so genzoo keeps ``nn.LSTM``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _forward_steps(xw: torch.Tensor, w_hh: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the recurrence in the transposed layout (units first, batch last), where each
    gate of a step is one contiguous (H, B) block. xw (T, 4H, B) holds the input projections
    plus biases; h0, c0 (H, B). Returns the activated gates (T, 4H, B), c (T+1, H, B),
    tanh(c) (T, H, B) and h (T+1, H, B)."""
    T, G, B = xw.shape
    H = G // 4
    gates = torch.empty_like(xw)
    cs = xw.new_empty(T + 1, H, B)
    hs = xw.new_empty(T + 1, H, B)
    tcs = xw.new_empty(T, H, B)
    cs[0], hs[0] = c0, h0
    for t in range(T):
        g = gates[t]
        torch.addmm(xw[t], w_hh, hs[t], out=g)  # all four gates in one matmul
        g[:2 * H].sigmoid_()  # i, f
        g[2 * H:3 * H].tanh_()  # g
        g[3 * H:].sigmoid_()  # o
        i, f, gg, o = g.unflatten(0, (4, H)).unbind(0)
        torch.mul(f, cs[t], out=cs[t + 1])
        cs[t + 1].addcmul_(i, gg)
        torch.tanh(cs[t + 1], out=tcs[t])
        torch.mul(o, tcs[t], out=hs[t + 1])
    return gates, cs, tcs, hs


class _LSTMFunction(torch.autograd.Function):
    """(xw (T, 4H, B), W_hh (4H, H), h0, c0 (H, B)) -> (h (T, H, B), h_T, c_T (H, B))."""

    @staticmethod
    def forward(ctx, xw: torch.Tensor, w_hh: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gates, cs, tcs, hs = _forward_steps(xw, w_hh, h0, c0)
        ctx.save_for_backward(w_hh, gates, cs, tcs, hs)
        return hs[1:], hs[-1].clone(), cs[-1].clone()

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor, grad_hT: torch.Tensor, grad_cT: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        w_hh, gates, cs, tcs, hs = ctx.saved_tensors
        T, G, B = gates.shape
        H = G // 4
        w_hh_t = w_hh.t().contiguous()  # (H, 4H)
        grad_out = grad_out.contiguous()
        dgates = torch.empty_like(gates)
        dh = grad_out[-1] + grad_hT
        dc = grad_cT.clone()
        tmp = torch.empty_like(dh)
        for t in range(T - 1, -1, -1):
            i, f, gg, o = gates[t].unflatten(0, (4, H)).unbind(0)
            di, df, dg, do = dgates[t].unflatten(0, (4, H)).unbind(0)
            tc = tcs[t]
            # dc += dh * o * (1 - tanh(c)^2)
            torch.mul(tc, tc, out=tmp).neg_().add_(1.0).mul_(o).mul_(dh)
            dc.add_(tmp)
            # do = dh * tanh(c) * o * (1 - o)
            torch.mul(o, o, out=tmp).neg_().add_(o)
            torch.mul(dh, tc, out=do).mul_(tmp)
            # di = dc * g * i * (1 - i)
            torch.mul(i, i, out=tmp).neg_().add_(i)
            torch.mul(dc, gg, out=di).mul_(tmp)
            # df = dc * c_prev * f * (1 - f)
            torch.mul(f, f, out=tmp).neg_().add_(f)
            torch.mul(dc, cs[t], out=df).mul_(tmp)
            # dg = dc * i * (1 - g^2)
            torch.mul(gg, gg, out=tmp).neg_().add_(1.0)
            torch.mul(dc, i, out=dg).mul_(tmp)
            dc.mul_(f)
            dh = torch.addmm(grad_out[t - 1], w_hh_t, dgates[t]) if t > 0 else w_hh_t @ dgates[t]
        # the weight gradient of all steps in one matmul: (4H, T*B) @ (T*B, H)
        grad_w_hh = dgates.transpose(0, 1).reshape(G, T * B) @ hs[:-1].transpose(0, 1).reshape(H, T * B).t()
        return dgates, grad_w_hh, dh, dc


def lstm_layer(x: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias: torch.Tensor | None,
               state: tuple[torch.Tensor, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One LSTM layer over ``x`` (B, T, in), batch first, as ``nn.LSTM`` (gates [i, f, g, o]).

    Args:
        weight_ih: (4H, in); weight_hh: (4H, H); bias: (4H,) (``bias_ih + bias_hh``) or None.
        state: (h0, c0), each (B, H); zeros if None.

    Returns:
        h of every step (B, T, H) and the final (h, c), each (B, H).
    """
    B, T, _ = x.shape
    H = weight_hh.shape[1]
    xw = torch.matmul(weight_ih, x.permute(1, 2, 0))  # (T, 4H, B): all positions in one matmul
    if bias is not None:
        xw = xw + bias[:, None]
    if state is None:
        h0 = c0 = x.new_zeros(H, B)
    else:
        h0, c0 = state[0].t(), state[1].t()
    if not torch.is_grad_enabled() or not any(t.requires_grad for t in (xw, weight_hh, h0, c0)):
        _, cs, _, hs = _forward_steps(xw, weight_hh, h0, c0)
        return hs[1:].permute(2, 0, 1), (hs[-1].t(), cs[-1].t())
    out, h, c = _LSTMFunction.apply(xw.contiguous(), weight_hh, h0.contiguous(), c0.contiguous())
    return out.permute(2, 0, 1), (h.t(), c.t())


def run_lstm(module: torch.nn.LSTM, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``module(x, state)`` for a batch-first, one-direction ``nn.LSTM`` without projections,
    computed with :func:`lstm_layer` (dropout between layers in training, as nn.LSTM does).
    ``state`` and the returned state are (h, c), each (layers, B, H)."""
    if not module.batch_first or module.bidirectional or module.proj_size:
        raise ValueError("run_lstm takes a batch-first, one-direction nn.LSTM without projections")
    hs, cs = [], []
    for k in range(module.num_layers):
        bias = getattr(module, f"bias_ih_l{k}") + getattr(module, f"bias_hh_l{k}") if module.bias else None
        x, (h, c) = lstm_layer(x, getattr(module, f"weight_ih_l{k}"), getattr(module, f"weight_hh_l{k}"), bias,
                               None if state is None else (state[0][k], state[1][k]))
        hs.append(h)
        cs.append(c)
        if k + 1 < module.num_layers and module.dropout and module.training:
            x = F.dropout(x, module.dropout, training=True)
    return x, (torch.stack(hs), torch.stack(cs))
