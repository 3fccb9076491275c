"""Grokking progress measures against independent computations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from goaldrift.experiments.grokking import grokking_measures as gm
from goaldrift.engine.tasks.modular import modular_data

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("p", [3, 7, 47])
def test_fourier_basis_is_orthonormal(p):
    B = gm.fourier_basis(p)
    assert B.shape == (p, p)
    assert np.allclose(B @ B.T, np.eye(p), atol=1e-12)
    assert np.allclose(B.T @ B, np.eye(p), atol=1e-12)
    assert len(gm.basis_names(p)) == p


def test_fourier_basis_refuses_even_p():
    with pytest.raises(ValueError):
        gm.fourier_basis(8)


def test_embedding_norms_parseval_and_a_pure_wave():
    p, D = 11, 6
    W = RNG.standard_normal((p + 1, D))  # the '=' row must be ignored
    norms = gm.embedding_fourier_norms(W, p)
    assert np.isclose((norms**2).sum(), (W[:p] ** 2).sum(), rtol=1e-12)
    x = np.arange(p)
    wave = np.zeros((p + 1, D))
    wave[:p, 2] = np.cos(2 * np.pi * 4 * x / p + 0.3)  # frequency 4, mixed cos/sin phase
    energy = gm.frequency_energy(gm.embedding_fourier_norms(wave, p))
    assert np.argmax(energy) == 3 and np.isclose(energy[3], (wave**2).sum())
    assert np.allclose(np.delete(energy, 3), 0, atol=1e-20)


def test_unembed_norms_transform_the_output_axis():
    p, M = 7, 5
    W_L = RNG.standard_normal((M, p + 1))
    norms = gm.unembed_fourier_norms(W_L, p)
    direct = np.linalg.norm(W_L[:, :p] @ gm.fourier_basis(p).T, axis=0)
    assert np.allclose(norms, direct)
    assert np.isclose((norms**2).sum(), (W_L[:, :p] ** 2).sum())


def test_key_frequencies_finds_planted_frequencies():
    p, D, M = 31, 16, 40
    x = np.arange(p)
    keys = [3, 11]
    W_E = 0.02 * RNG.standard_normal((p + 1, D))
    W_L = 0.02 * RNG.standard_normal((M, p + 1))
    for j, k in enumerate(keys):
        W_E[:p, j] += np.cos(2 * np.pi * k * x / p)
        W_L[j, :p] += np.sin(2 * np.pi * k * x / p)
    assert gm.key_frequencies(W_E, W_L, p) == keys
    # Isotropic noise alone spreads the energy: no frequency holds 4x the uniform share.
    assert gm.key_frequencies(RNG.standard_normal((p + 1, 200)), RNG.standard_normal((400, p + 1)), p, 4.0) == []


def gini_brute(x):
    x = np.asarray(x, dtype=float)
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) * x.sum())


def test_gini_against_the_double_sum():
    for n in (2, 5, 57):
        x = RNG.random(n) ** 3
        assert gm.gini(x) == pytest.approx(gini_brute(x), rel=1e-12)
    batch = RNG.random((4, 9))
    assert np.allclose(gm.gini(batch), [gini_brute(r) for r in batch])
    assert np.allclose(gm.gini(batch.T, axis=0), gm.gini(batch))
    assert gm.gini(np.ones(10)) == pytest.approx(0.0, abs=1e-15)
    assert gm.gini(np.eye(1, 10)[0]) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        gm.gini(np.array([1.0, -1.0]))


def test_restricted_and_excluded_match_least_squares_projections():
    p, V = 13, 14
    keys = [2, 5]
    logits = RNG.standard_normal((p * p, V))
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    s = (a + b).reshape(-1)
    waves = [f(2 * np.pi * k * s / p) for k in keys for f in (np.cos, np.sin)]
    design = np.stack([np.ones(p * p), *waves], axis=1)
    fit = design @ np.linalg.lstsq(design, logits, rcond=None)[0]
    assert np.allclose(gm.restricted_logits(logits, p, keys), fit, atol=1e-12)
    key_design = np.stack(waves, axis=1)
    key_fit = key_design @ np.linalg.lstsq(key_design, logits, rcond=None)[0]
    assert np.allclose(gm.excluded_logits(logits, p, keys), logits - key_fit, atol=1e-12)
    # The decomposition: restricted + excluded = logits + their constant part.
    total = gm.restricted_logits(logits, p, keys) + gm.excluded_logits(logits, p, keys)
    assert np.allclose(total, logits + logits.mean(0, keepdims=True), atol=1e-12)
    # An ensemble axis in front is handled member by member.
    stacked = np.stack([logits, 2 * logits])
    assert np.allclose(gm.restricted_logits(stacked, p, keys)[1], 2 * fit, atol=1e-12)


def test_a_pure_fourier_table_is_unchanged_by_restriction_and_erased_by_exclusion():
    p, keys = 11, [1, 4]
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    s = (a + b).reshape(-1)
    c = np.arange(p)
    # The "ideal circuit" logits: sum_k cos(w_k(a+b-c)), up to a constant per output.
    logits = sum(np.cos(2 * np.pi * k * (s[:, None] - c[None, :]) / p) for k in keys) + 0.7
    assert np.allclose(gm.restricted_logits(logits, p, keys), logits, atol=1e-12)
    assert np.allclose(gm.excluded_logits(logits, p, keys), 0.7, atol=1e-12)


def test_cross_entropy_matches_torch_in_float64():
    logits = RNG.standard_normal((3, 50, 9)) * 30
    labels = RNG.integers(0, 9, 50)
    ours = gm.cross_entropy(logits, labels)
    ref = [F.cross_entropy(torch.tensor(l), torch.tensor(labels)).item() for l in logits]
    assert np.allclose(ours, ref, rtol=1e-13)


def test_sum_sq_by_component_adds_up():
    w = {n: RNG.standard_normal((2, 3, 4)) for names in gm.COMPONENTS.values() for n in names}
    parts = gm.sum_sq_by_component(w)
    direct = sum((v**2).reshape(2, -1).sum(1) for v in w.values())
    assert np.allclose(parts["total"], direct)
    assert np.allclose(parts["unembed"], (w["W_U"] ** 2).reshape(2, -1).sum(1))


def test_grid_index_and_labels_agree_with_the_task():
    d = modular_data(p=7, train_frac=0.4, seed=2)
    grid = gm.all_inputs(7)
    idx = gm.grid_index(d.train_pairs, 7)
    assert torch.equal(grid[idx], d.train_x)
    assert np.array_equal((grid[idx, 0] + grid[idx, 1]).numpy() % 7, d.train_y.numpy())


def test_progress_measures_on_a_tiny_cached_run(tmp_path):
    from goaldrift.engine import runs
    from goaldrift.engine.models import TransformerConfig
    from goaldrift.engine.train import OptimConfig, RunConfig

    p = 7
    cfg = RunConfig(task={"name": "modular_addition", "p": p, "train_frac": 0.5},
                    model=TransformerConfig.for_modulus(p, d_model=8, n_heads=2, d_head=4, d_mlp=16),
                    optim=OptimConfig(lr=1e-2, weight_decay=1.0), steps=30, seeds=[0, 1], eval_every=10,
                    checkpoint_every=None)
    run = runs.run(cfg, root=tmp_path, metric_fns={"weight_snapshot": gm.weight_snapshot}, progress=False)
    data = modular_data(p=p, train_frac=0.5, seed=0)
    m = gm.progress_measures(run, data)
    T = len(run.metrics["step"])
    assert m.train_loss.shape == (T, 2) and m.embed_norms.shape == (T, 2, p)
    # The float64 recomputation agrees with the trainer's own float64 loss of float32 logits.
    assert np.allclose(m.train_loss, run.metrics["train_loss"], rtol=1e-4)
    assert np.allclose(m.test_acc, run.metrics["test_acc"])
    assert np.allclose(m.sum_sq["total"], run.metrics["weight_norm_sq"], rtol=1e-5)
    assert m.decomposition_error < 1e-12
    # The last snapshot is the final model.
    final = gm.snapshot_weights(run.metrics, T - 1)
    assert np.allclose(final["W_E"], run.model.W_E.detach().numpy())


def test_relative_gap_is_the_worst_relative_difference():
    trainer = np.array([2.0, 1.0, 0.5])
    assert gm.relative_gap(np.array([2.0, 1.1, 0.5]), trainer) == pytest.approx(0.1)
    assert gm.relative_gap(trainer, trainer) == 0.0
    # A trainer loss that underflowed to 0 is floored at 1e-12, not divided by.
    assert gm.relative_gap(np.array([1e-13]), np.array([0.0])) == pytest.approx(0.1)
