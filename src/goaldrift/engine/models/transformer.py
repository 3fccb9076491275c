"""The one-layer grokking transformer of Nanda et al. (2023), as an ensemble.

Architecture as in the published code (``transformers.py`` of
progress-measures-paper): token and learned positional embeddings, one
attention layer (causal, no biases), one ReLU MLP (with biases), no
LayerNorm, untied unembedding; inputs ``a b =`` with '=' the last token of
the vocabulary; the loss reads only the last position.

Every parameter carries a leading ensemble dimension K: member k is an
independent network (own init seed, own η and λ in the optimiser), and all K
are trained by the same batched matmuls. Weight layouts follow
TransformerLens (``W_E [V, D]``, ``W_Q [H, D, dh]``, ``W_O [H, dh, D]``,
``W_in [D, M]``, ``W_out [M, D]``, ``W_U [D, V_out]``) with K in front, so
that interpretability code written for TransformerLens ports over.

Initialisation reproduces the published draws: with seed s, member k gets
exactly the tensors the published ``Transformer(config)`` gets after
``torch.manual_seed(s)`` (all N(0,1)/√d_model, except W_U /√d_vocab, MLP
biases zero), transposed into our layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from goaldrift.engine.models.ensemble import EnsembleModule

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


@dataclass
class TransformerConfig:
    """Sizes of the grokking transformer; defaults are the published p=113 run.

    ``d_vocab`` counts the p numbers plus '='; the published unembedding also
    has ``d_vocab`` outputs (the '=' logit exists but is never a label).
    ``fast`` selects the last-position-only forward for training (same
    function, far less work; see ``Transformer.predict``).
    """

    d_vocab: int = 114
    d_vocab_out: int = 114
    n_ctx: int = 3
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    act: str = "relu"
    mlp_bias: bool = True
    fast: bool = True

    @classmethod
    def for_modulus(cls, p: int, **kw) -> "TransformerConfig":
        return cls(d_vocab=p + 1, d_vocab_out=kw.pop("d_vocab_out", p + 1), **kw)

    def validate(self) -> None:
        for name in ("d_vocab", "d_vocab_out", "n_ctx", "d_model", "n_heads", "d_head", "d_mlp"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"model.{name} must be a positive int, got {v!r}")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"model.act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")


def published_init(cfg: TransformerConfig, seed: int) -> dict[str, torch.Tensor]:
    """One member's weights, drawn in the published module order and shapes.

    Drawing from a private generator (not the global RNG) is what makes
    member k of an ensemble identical to a K=1 model with the same seed.
    """
    g = torch.Generator().manual_seed(seed)
    D, V, C, H, dh, M = cfg.d_model, cfg.d_vocab, cfg.n_ctx, cfg.n_heads, cfg.d_head, cfg.d_mlp

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    W_E = randn(D, V) / math.sqrt(D)
    W_pos = randn(C, D) / math.sqrt(D)
    W_K = randn(H, dh, D) / math.sqrt(D)
    W_Q = randn(H, dh, D) / math.sqrt(D)
    W_V = randn(H, dh, D) / math.sqrt(D)
    W_O = randn(D, H * dh) / math.sqrt(D)
    W_in = randn(M, D) / math.sqrt(D)
    W_out = randn(D, M) / math.sqrt(D)
    W_U = randn(D, cfg.d_vocab_out) / math.sqrt(cfg.d_vocab_out)
    w = {
        "W_E": W_E.T,
        "W_pos": W_pos,
        "W_Q": W_Q.transpose(1, 2),
        "W_K": W_K.transpose(1, 2),
        "W_V": W_V.transpose(1, 2),
        "W_O": W_O.T.reshape(H, dh, D),
        "W_in": W_in.T,
        "W_out": W_out.T,
        "W_U": W_U,
    }
    if cfg.mlp_bias:
        w["b_in"] = torch.zeros(M)
        w["b_out"] = torch.zeros(D)
    return {k: v.contiguous() for k, v in w.items()}


class Transformer(EnsembleModule):
    """K one-layer transformers evaluated together; parameters are [K, ...]."""

    def __init__(self, cfg: TransformerConfig, seeds, dtype=torch.float32, device="cpu"):
        super().__init__(cfg, seeds, published_init, dtype=dtype, device=device)

    @property
    def W_L(self) -> torch.Tensor:
        """W_U composed with W_out: the neuron-to-logit map of the paper."""
        return self.W_out @ self.W_U

    # ---- the plain forward: every position through every layer -------------

    def run_with_cache(self, tokens: torch.Tensor):
        """Logits ``[K, N, n_ctx, V_out]`` and every named intermediate.

        Cache keys (all with leading ``[K, N]``): embed, pos_embed, resid_pre,
        attn.q, attn.k, attn.v, attn.scores, attn.pattern ``[K,N,H,q,k]``,
        attn.z, attn.out, resid_mid, mlp.pre, mlp.post, mlp.out, resid_post,
        logits.
        """
        cache: dict[str, torch.Tensor] = {}
        logits = self._forward(tokens, cache)
        return logits, cache

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._forward(tokens, None)

    def _forward(self, tokens, cache):
        def keep(name, t):
            if cache is not None:
                cache[name] = t.detach()
            return t

        C = tokens.shape[1]
        embed = keep("embed", self.W_E[:, tokens])                       # [K,N,C,D]
        pos = keep("pos_embed", self.W_pos[:, None, :C].expand_as(embed))
        x = keep("resid_pre", embed + pos)
        q = keep("attn.q", torch.einsum("kncd,khde->knhce", x, self.W_Q))
        k = keep("attn.k", torch.einsum("kncd,khde->knhce", x, self.W_K))
        v = keep("attn.v", torch.einsum("kncd,khde->knhce", x, self.W_V))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.cfg.d_head)    # [K,N,H,q,k]
        causal = torch.ones(C, C, dtype=torch.bool, device=tokens.device).tril()
        scores = keep("attn.scores", scores.masked_fill(~causal, float("-inf")))
        pattern = keep("attn.pattern", scores.softmax(dim=-1))
        z = keep("attn.z", pattern @ v)                                   # [K,N,H,C,dh]
        attn_out = keep("attn.out", torch.einsum("knhce,khed->kncd", z, self.W_O))
        x = keep("resid_mid", x + attn_out)
        mlp_out = self._mlp(x, keep)
        x = keep("resid_post", x + mlp_out)
        return keep("logits", x @ self.W_U[:, None])

    def _mlp(self, x, keep):
        """The MLP on residual vectors with any middle shape ``[K, ..., D]``."""
        shape = x.shape
        flat = x.reshape(shape[0], -1, shape[-1])
        if self.cfg.mlp_bias:
            pre = torch.baddbmm(self.b_in[:, None], flat, self.W_in)
        else:
            pre = torch.bmm(flat, self.W_in)
        pre = keep("mlp.pre", pre.reshape(*shape[:-1], -1))
        post = keep("mlp.post", ACTIVATIONS[self.cfg.act](pre))
        flat_post = post.reshape(shape[0], -1, post.shape[-1])
        if self.cfg.mlp_bias:
            out = torch.baddbmm(self.b_out[:, None], flat_post, self.W_out)
        else:
            out = torch.bmm(flat_post, self.W_out)
        return keep("mlp.out", out.reshape(shape))

    # ---- the fast forward: only what the last position's loss needs --------

    def forward_last(self, tokens: torch.Tensor) -> torch.Tensor:
        """Last-position logits ``[K, N, V_out]`` with only the work they need.

        Only the last position's residual stream reaches the loss, and before
        the attention layer position j's stream is W_E[token] + W_pos[j]. So
        the keys and values of the earlier positions depend on (token,
        position) alone: we compute them for every vocabulary row once per
        step (a [V, ·] table) and gather. The query comes from the last token,
        which must be the same for every row (the '=' of ``a b =``); it is
        read from the first row. Attention scores are folded into one table
        (W_E + W_pos[j]) · W_K q, so the per-example work is a gather, a
        3-way softmax, one [H·dh → D] matmul, the MLP and the unembedding.
        """
        K, V, D = self.W_E.shape
        H, dh = self.cfg.n_heads, self.cfg.d_head
        N, C = tokens.shape
        last_tok = tokens[:1, -1]
        x_last = self.W_E[:, last_tok] + self.W_pos[:, C - 1:C]           # [K,1,D]
        q = torch.einsum("kod,khde->khe", x_last, self.W_Q)               # [K,H,dh]
        w_qk = torch.einsum("khde,khe->kdh", self.W_K, q) / math.sqrt(dh)  # [K,D,H]
        w_v = self.W_V.permute(0, 2, 1, 3).reshape(K, D, H * dh)
        proj = torch.cat([w_qk, w_v], dim=2)                              # [K,D,H+H·dh]
        # per (position, token) tables: [score of each head | value of each head]
        tok_tab = self.W_E @ proj                                         # [K,V,H+H·dh]
        pos_tab = self.W_pos[:, :C] @ proj                                # [K,C,H+H·dh]
        rows = [self._gather(tok_tab + pos_tab[:, j:j + 1], tokens[:, j]) for j in range(C - 1)]
        last = tok_tab[:, last_tok] + pos_tab[:, C - 1:C]                 # [K,1,H+H·dh]
        scores = torch.stack([r[..., :H] for r in rows] + [last[..., :H].expand(K, N, H)], dim=-1)
        pattern = scores.softmax(dim=-1)                                  # [K,N,H,C]
        z = pattern[..., -1:] * last[..., H:].view(K, 1, H, dh)
        for j, r in enumerate(rows):
            z = z + pattern[..., j:j + 1] * r[..., H:].view(K, N, H, dh)  # [K,N,H,dh]
        x = torch.baddbmm(x_last, z.reshape(K, N, H * dh), self.W_O.reshape(K, H * dh, D))
        x = x + self._mlp(x, lambda name, t: t)                           # resid_post [K,N,D]
        return x @ self.W_U

    @staticmethod
    def _gather(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``table[:, idx]`` of a ``[K, V, F]`` table.

        On CPU index_select is cheapest and its backward (index_add) is
        deterministic. On CUDA index_add uses atomics, so reruns would differ
        in the last bits; a one-hot matmul is deterministic and, at V≈p, cheap.
        """
        if table.is_cuda:
            one_hot = torch.nn.functional.one_hot(idx, table.shape[1]).to(table.dtype)
            return one_hot @ table
        return table.index_select(1, idx)

    def predict(self, tokens: torch.Tensor) -> torch.Tensor:
        """What the loss reads: last-position logits ``[K, N, V_out]``."""
        if self.cfg.fast:
            return self.forward_last(tokens)
        return self.forward(tokens)[:, :, -1]
