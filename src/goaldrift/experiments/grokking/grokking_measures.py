"""Progress measures for grokking modular addition (Nanda et al. 2023), in float64.

Everything here reads a trained (or snapshotted) one-layer transformer on the
full p x p table of inputs ``a b =``:

* the Fourier basis of Z_p and the Fourier-component norms of the embedding
  W_E and of the neuron-to-logit map W_L = W_out W_U;
* the key frequencies, by the rule in ``key_frequencies``;
* restricted loss (logits projected onto the constant and the
  cos/sin(w_k(a+b)) directions of the key frequencies, on the test split) and
  excluded loss (those key directions removed, on the training split);
* the Gini coefficient of the Fourier-component norms;
* the sum of squared weights, split by component.

The projections act on the logits, as the paper defines them. The published
code applies the same projection to the MLP activations before W_L, which
differs only by the key-frequency content of the direct and attention paths
to the logits. Its "high precision" cross-entropy ran in float32; here the
model is cast to float64 before the forward pass and the loss is float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from goaldrift.engine.models import build_model

# ---- the Fourier basis of Z_p ------------------------------------------------


def fourier_basis(p: int) -> np.ndarray:
    """Orthonormal real Fourier basis of Z_p as rows, ``[p, p]`` float64.

    Row 0 is the constant 1/sqrt(p); rows 2k-1 and 2k are cos and sin of
    w_k x with w_k = 2 pi k / p, for k = 1 .. (p-1)/2, scaled to unit norm.
    p must be odd (a prime, in the task), so no Nyquist row is needed.
    """
    if p < 3 or p % 2 == 0:
        raise ValueError(f"the real Fourier basis here needs an odd p >= 3, got {p}")
    x = np.arange(p)
    rows = [np.full(p, 1 / np.sqrt(p))]
    for k in range(1, (p - 1) // 2 + 1):
        w = 2 * np.pi * k / p
        rows.append(np.cos(w * x) * np.sqrt(2 / p))
        rows.append(np.sin(w * x) * np.sqrt(2 / p))
    return np.stack(rows)


def basis_names(p: int) -> list[str]:
    names = ["const"]
    for k in range(1, (p - 1) // 2 + 1):
        names += [f"cos {k}", f"sin {k}"]
    return names


def n_frequencies(p: int) -> int:
    return (p - 1) // 2


def embedding_fourier_norms(W_E: np.ndarray, p: int) -> np.ndarray:
    """Norm of each Fourier component of the embedding, ``[..., p]``.

    ``W_E`` is ``[..., V, D]`` (rows are tokens; only the p numbers are
    transformed, not '=').
    """
    W = np.asarray(W_E, dtype=np.float64)[..., :p, :]
    return np.linalg.norm(np.einsum("fx,...xd->...fd", fourier_basis(p), W), axis=-1)


def unembed_fourier_norms(W_L: np.ndarray, p: int) -> np.ndarray:
    """Norm of each Fourier component of the neuron-to-logit map, ``[..., p]``.

    ``W_L`` is ``[..., M, V_out]``; the output axis (the p answers) is
    transformed, the norm is taken over neurons.
    """
    W = np.asarray(W_L, dtype=np.float64)[..., :p]
    return np.linalg.norm(np.einsum("fx,...mx->...mf", fourier_basis(p), W), axis=-2)


def frequency_energy(component_norms: np.ndarray) -> np.ndarray:
    """Squared norm per frequency k = 1..(p-1)/2 (cos² + sin²), ``[..., (p-1)/2]``."""
    n = np.asarray(component_norms, dtype=np.float64)
    return n[..., 1::2] ** 2 + n[..., 2::2] ** 2


def key_frequencies(W_E: np.ndarray, W_L: np.ndarray, p: int, share_factor: float = 2.0) -> list[int]:
    """Key frequencies of one network by a stated rule.

    For W_E and for W_L separately, each frequency's share of the total
    non-constant Fourier energy is computed; the two shares are averaged.
    A frequency is key if its averaged share is at least ``share_factor``
    times the uniform share 1/((p-1)/2). A network whose energy is spread
    evenly (at initialisation) has few or none; a grokked network has the
    handful the circuit uses. Returned sorted ascending (frequency indices k).
    """
    e = frequency_energy(embedding_fourier_norms(W_E, p))
    l = frequency_energy(unembed_fourier_norms(W_L, p))
    share = 0.5 * (e / e.sum() + l / l.sum())
    uniform = 1.0 / n_frequencies(p)
    return [int(k) + 1 for k in np.flatnonzero(share >= share_factor * uniform)]


# ---- Gini coefficient --------------------------------------------------------


def gini(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gini coefficient of non-negative values along ``axis``.

    G = sum_ij |x_i - x_j| / (2 n sum_i x_i), evaluated in O(n log n) from
    the sorted values: G = 2 sum_i i x_(i) / (n sum x) - (n + 1)/n, i = 1..n.
    0 when all values are equal, (n-1)/n when one value holds everything.
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    if (x < 0).any():
        raise ValueError("the Gini coefficient is defined for non-negative values")
    n = x.shape[-1]
    s = np.sort(x, axis=-1)
    i = np.arange(1, n + 1)
    total = s.sum(-1)
    return 2 * (s * i).sum(-1) / (n * total) - (n + 1) / n


# ---- weights by component ------------------------------------------------------

COMPONENTS = {
    "embed": ("W_E", "W_pos"),
    "attention": ("W_Q", "W_K", "W_V", "W_O"),
    "mlp": ("W_in", "b_in", "W_out", "b_out"),
    "unembed": ("W_U",),
}


def sum_sq_by_component(weights: dict) -> dict[str, np.ndarray]:
    """Sum of squared weights per member ``[K]`` for each component, and "total"."""
    out = {}
    for comp, names in COMPONENTS.items():
        parts = [np.asarray(weights[n], dtype=np.float64) for n in names if n in weights]
        out[comp] = sum(np.square(w).reshape(w.shape[0], -1).sum(1) for w in parts)
    out["total"] = sum(out[c] for c in COMPONENTS)
    return out


# ---- restricted and excluded logits -----------------------------------------------


def sum_directions(p: int, freqs) -> np.ndarray:
    """Unit vectors cos(w_k(a+b)), sin(w_k(a+b)) over the p² inputs (a major),
    as columns ``[p², 2·len(freqs)]``. They are orthonormal for distinct k in
    1..(p-1)/2."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    s = (a + b).reshape(-1)
    cols = []
    for k in freqs:
        w = 2 * np.pi * k / p
        for f in (np.cos, np.sin):
            v = f(w * s)
            cols.append(v / np.linalg.norm(v))
    return np.stack(cols, axis=1) if cols else np.zeros((p * p, 0))


def _project(logits: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Projection of ``[..., p², V]`` onto the span of orthonormal columns, along the input axis."""
    coef = np.einsum("nj,...nv->...jv", directions, logits)
    return np.einsum("nj,...jv->...nv", directions, coef)


def key_part(logits: np.ndarray, p: int, freqs) -> np.ndarray:
    return _project(np.asarray(logits, dtype=np.float64), sum_directions(p, freqs))


def restricted_logits(logits: np.ndarray, p: int, freqs) -> np.ndarray:
    """Logits over the p² inputs ``[..., p², V]`` keeping only their mean over
    inputs (the constant) and their cos/sin(w_k(a+b)) components for k in freqs."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits.mean(axis=-2, keepdims=True) + key_part(logits, p, freqs)


def excluded_logits(logits: np.ndarray, p: int, freqs) -> np.ndarray:
    """Logits with the cos/sin(w_k(a+b)) components of the key frequencies removed."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits - key_part(logits, p, freqs)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean float64 cross-entropy over the second-to-last axis: ``[..., N, V]`` -> ``[...]``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, np.broadcast_to(labels[:, None], logp.shape[:-1] + (1,)), axis=-1)
    return -picked[..., 0].mean(-1)


def relative_gap(ours: np.ndarray, trainer: np.ndarray) -> float:
    """Worst relative gap between a loss curve recomputed here and the trainer's record of it.
    The denominator is floored at 1e-12 so a loss that underflows to 0 does not divide by zero."""
    return float(np.max(np.abs(ours - trainer) / np.maximum(trainer, 1e-12)))


# ---- the model on the full table -----------------------------------------------------


def all_inputs(p: int) -> torch.Tensor:
    """Tokens ``a b =`` for every pair, a major: row a*p + b."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1), torch.full((p * p,), p)], dim=1)


def grid_index(pairs: torch.Tensor, p: int) -> np.ndarray:
    """Row of each (a, b) pair in the full table."""
    pairs = torch.as_tensor(pairs)
    return (pairs[:, 0] * p + pairs[:, 1]).numpy()


@torch.no_grad()
def logits_table(model, p: int) -> np.ndarray:
    """Last-position logits of every member on all p² inputs, ``[K, p², V]``, in float64."""
    return model.predict(all_inputs(p).to(next(model.parameters()).device)).double().cpu().numpy()


def float64_model(config_model, seeds, weights: dict):
    """A float64 CPU copy of a transformer ensemble with the given weights."""
    model = build_model(config_model, seeds, dtype=torch.float64, device="cpu")
    model.load_state_dict({k: torch.as_tensor(v, dtype=torch.float64) for k, v in weights.items()})
    return model


# ---- snapshots during training, measures after it ---------------------------------------

SNAPSHOT_PREFIX = "snap."


def weight_snapshot(model, data, step) -> dict:
    """Metric function for the trainer: every parameter at this evaluation.

    Progress measures that depend on the final network (key frequencies)
    are computed afterwards from these snapshots, in float64.
    """
    return {SNAPSHOT_PREFIX + name: p.detach().clone() for name, p in model.named_parameters()}


def snapshot_weights(metrics: dict, i: int) -> dict:
    """Weights ``{name: [K, ...]}`` of evaluation i from a run's metrics."""
    n = len(SNAPSHOT_PREFIX)
    return {k[n:]: v[i] for k, v in metrics.items() if k.startswith(SNAPSHOT_PREFIX)}


@dataclass
class ProgressMeasures:
    """Measures at every snapshot, arrays ``[T, K]`` unless noted.

    ``embed_norms`` / ``unembed_norms`` are ``[T, K, p]`` Fourier-component
    norms; ``sum_sq`` maps components to ``[T, K]``; ``key_freqs`` has one
    list per member (from its final snapshot).
    """

    steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    restricted_loss: np.ndarray
    excluded_loss: np.ndarray
    gini_embed: np.ndarray
    gini_unembed: np.ndarray
    embed_norms: np.ndarray
    unembed_norms: np.ndarray
    sum_sq: dict
    key_freqs: list
    decomposition_error: float


def progress_measures(run, data, share_factor: float = 2.0) -> ProgressMeasures:
    """All measures from a run whose metrics hold weight snapshots.

    ``run`` is a ``goaldrift.engine.runs.Run`` trained with ``weight_snapshot``;
    ``data`` its ``ModularData``. Key frequencies come from each member's
    final snapshot and are held fixed over time, as in the paper.
    """
    cfg, m = run.config, run.metrics
    p = data.p
    steps = m["step"]
    T = len(steps)
    final = snapshot_weights(m, T - 1)
    W_L_final = final["W_out"].astype(np.float64) @ final["W_U"].astype(np.float64)
    K = final["W_E"].shape[0]
    keys = [key_frequencies(final["W_E"][k], W_L_final[k], p, share_factor) for k in range(K)]
    train_idx, test_idx = grid_index(data.train_pairs, p), grid_index(data.test_pairs, p)
    labels = (all_inputs(p)[:, 0] + all_inputs(p)[:, 1]).numpy() % p

    out = {n: np.zeros((T, K)) for n in ("train_loss", "test_loss", "train_acc", "test_acc", "restricted_loss",
                                         "excluded_loss", "gini_embed", "gini_unembed")}
    embed_norms = np.zeros((T, K, p))
    unembed_norms = np.zeros((T, K, p))
    sum_sq = {c: np.zeros((T, K)) for c in (*COMPONENTS, "total")}
    worst = 0.0
    for i in range(T):
        w = snapshot_weights(m, i)
        logits = logits_table(float64_model(cfg.model, cfg.seeds, w), p)       # [K, p², V]
        for split, idx in (("train", train_idx), ("test", test_idx)):
            out[f"{split}_loss"][i] = cross_entropy(logits[:, idx], labels[idx])
            out[f"{split}_acc"][i] = (logits[:, idx].argmax(-1) == labels[idx]).mean(-1)
        for k in range(K):
            restricted = restricted_logits(logits[k], p, keys[k])
            excluded = excluded_logits(logits[k], p, keys[k])
            out["restricted_loss"][i, k] = cross_entropy(restricted[test_idx], labels[test_idx])
            out["excluded_loss"][i, k] = cross_entropy(excluded[train_idx], labels[train_idx])
            # restricted + excluded = logits + their constant part, exactly.
            gap = restricted + excluded - logits[k] - logits[k].mean(0, keepdims=True)
            worst = max(worst, float(np.abs(gap).max() / np.abs(logits[k]).max()))
        W_L = w["W_out"].astype(np.float64) @ w["W_U"].astype(np.float64)
        embed_norms[i] = embedding_fourier_norms(w["W_E"], p)
        unembed_norms[i] = unembed_fourier_norms(W_L, p)
        out["gini_embed"][i] = gini(embed_norms[i])
        out["gini_unembed"][i] = gini(unembed_norms[i])
        for c, v in sum_sq_by_component(w).items():
            sum_sq[c][i] = v
    return ProgressMeasures(steps=steps, embed_norms=embed_norms, unembed_norms=unembed_norms, sum_sq=sum_sq,
                            key_freqs=keys, decomposition_error=worst, **out)


# ---- figures -------------------------------------------------------------------------


def plot_embedding_spectrum(measures: ProgressMeasures, phases, seed: int, member: int = 0) -> None:
    """Heat map of the Fourier-component norms of W_E (per frequency k) over the training steps of
    one member, on a log step axis, with the ends of its phases (``phases.Phases``) dotted."""
    from goaldrift.experiments import plots

    T = measures.steps
    freqs = np.arange(1, n_frequencies(measures.embed_norms.shape[-1]) + 1)
    energy = frequency_energy(measures.embed_norms[:, member])
    fig, ax = plots.panels(1, height=3.4)
    mesh = ax.pcolormesh(T[1:], freqs, np.sqrt(energy[1:].T), shading="nearest", cmap="viridis")
    ax.set_xscale("log")
    for name, start, end in phases.spans(T[-1]):
        if end < T[-1]:
            ax.axvline(end, color="white", lw=0.8, ls=":")  # phase boundaries
    ax.set_xlim(T[1] / 1.2, T[-1])
    keys = ", ".join(map(str, measures.key_freqs[member]))
    ax.set(xlabel="step", ylabel="frequency $k$", title=f"Fourier norms of $W_E$ over training (seed {seed}; key: {keys})")
    fig.colorbar(mesh, ax=ax, label=r"$\|(F W_E)_k\|$")
    plots.show(fig)
