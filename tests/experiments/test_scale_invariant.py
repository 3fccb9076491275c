"""goaldrift.experiments.decay.scale_invariant (chapter rotational_equilibrium): the
LayerNorm nets, their training and measurements against independent checks."""

import math

import numpy as np
import pytest
import torch

from goaldrift.engine.tasks import stream
from goaldrift.engine.train import StepView
from goaldrift.experiments.decay import scale_invariant as si


def test_layer_norm_net_is_scale_invariant_by_finite_differences():
    teacher = si.make_teacher(6, 10, seed=1)
    w = {k: v[None].clone() for k, v in si.init_weights(6, 10, seed=2).items()}
    x = torch.randn(32, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = teacher(x)

    def loss(W0):
        return float(0.5 * (si.forward({**w, "W_0": W0}, x)[0] - y).pow(2).mean())

    W0 = w["W_0"]
    h = 1e-6
    radial = (loss(W0 * (1 + h)) - loss(W0 * (1 - h))) / (2 * h)   # derivative along w itself
    shift = torch.zeros_like(W0) + torch.randn(1, 6, 1, dtype=torch.float64)  # same vector in every column
    along_shift = (loss(W0 + h * shift) - loss(W0 - h * shift)) / (2 * h)
    other = torch.randn_like(W0)
    along_other = (loss(W0 + h * other) - loss(W0 - h * other)) / (2 * h)
    assert abs(radial) < 1e-9 and abs(along_shift) < 1e-9 and abs(along_other) > 1e-4
    assert max(si.scaled_gradient_error(teacher, seed=4, scale=5.0).values()) < 1e-12


def test_training_records_exact_identities(tmp_path):
    teacher = si.make_teacher(6, 12, seed=0)
    run = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                   data_seed=0, init_scale=0.2, root=tmp_path / "a")
    assert si.sgd_step_identity_error(run) < 1e-12
    for tr in run.traces.values():
        assert np.abs(tr.cos_wg).max() < 1e-12
        ratio = np.sqrt(tr.shift_sq[-1] / tr.shift_sq[0])
        assert np.allclose(ratio, (1 - 0.1 * np.array([0.02, 0.05])) ** 60, rtol=1e-9)
    # trained again (another run cache), not loaded: the same bits
    again = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                     data_seed=0, init_scale=0.2, root=tmp_path / "b")
    assert np.array_equal(run.traces["W_0"].norm_sq, again.traces["W_0"].norm_sq)
    assert np.array_equal(run.loss, again.loss)
    cached = si.train("sgd", 0.1, [0.02, 0.05], [0, 1], teacher, steps=60, batch_size=8, label_noise=0.5,
                      data_seed=0, init_scale=0.2, root=tmp_path / "b")
    assert np.array_equal(cached.traces["W_1"].angle, again.traces["W_1"].angle)
    assert len(list((tmp_path / "b").glob("*/manifest.json"))) == 1   # one run, trained once, then loaded


def test_adamw_moves_the_zero_gradient_shift():
    teacher = si.make_teacher(6, 12, seed=0)
    run = si.train("adamw", 0.01, [1.0], [0], teacher, steps=100, batch_size=8, label_noise=0.5, data_seed=0)
    tr = run.traces["W_0"]
    ratio = np.sqrt(tr.shift_sq[-1, 0] / tr.shift_sq[0, 0])
    assert abs(ratio / (1 - 0.01) ** 100 - 1) > 0.01      # not the zero-gradient law


def test_block_standard_error_matches_iid_formula():
    x = np.random.default_rng(5).standard_normal((100_000, 1)) + 10.0
    se = si.relative_standard_error(x, n_blocks=20)[0]
    assert se == pytest.approx(1 / math.sqrt(100_000) / 10.0, rel=0.5)


def test_rotation_records_against_numpy():
    rng = np.random.default_rng(0)
    before = {n: torch.tensor(rng.standard_normal((2, 3, 4))) for n in si.SCALE_INVARIANT}
    grad = {n: torch.tensor(rng.standard_normal((2, 3, 4))) for n in si.SCALE_INVARIANT}
    after = {n: before[n] - 0.1 * grad[n] for n in si.SCALE_INVARIANT}
    view = StepView(0, before, grad, after, torch.zeros(2), None)
    rec = si.rotation_records(view)
    for n in si.SCALE_INVARIANT:
        w, g, a = (t[n].numpy().reshape(2, -1) for t in (before, grad, after))
        assert np.allclose(rec[f"{n}.norm_sq"], (w**2).sum(1)) and np.allclose(rec[f"{n}.grad_sq"], (g**2).sum(1))
        assert np.allclose(rec[f"{n}.w_dot_g"], (w * g).sum(1))
        shift = before[n].numpy().mean(-1, keepdims=True) * np.ones((1, 1, 4))
        assert np.allclose(rec[f"{n}.shift_sq"], (shift.reshape(2, -1) ** 2).sum(1))
        cos = (w * a).sum(1) / np.linalg.norm(w, axis=1) / np.linalg.norm(a, axis=1)
        assert np.allclose(rec[f"{n}.angle"], np.arccos(cos), rtol=1e-10)


def test_the_stream_is_what_the_students_trained_on(tmp_path):
    """The per-step losses are the students' half squared errors on the stream's batches."""
    teacher = si.make_teacher(5, 8, seed=1)
    run = si.train("sgd", 0.05, 0.01, [3], teacher, steps=3, batch_size=4, label_noise=0.2, data_seed=7,
                   root=tmp_path)
    s = stream.TeacherStream(teacher, 4, 0.2, 7, n_test=0)
    w = {k: v[None] for k, v in si.init_weights(5, 8, 3).items()}
    x, y = s.stream_batch(0)
    assert run.loss[0, 0] == pytest.approx(float(0.5 * ((si.forward(w, x)[0] - y) ** 2).mean()), rel=1e-14)


def _steady_run(kind, lr, lams, angle, norm_sq, unit_grad_sq, shift_sq=None, momentum=0.0, beta1=0.9,
                n_elements=12, steps=40):
    """A Run whose every step sits at the given angle and ||w||^2 (per member), for both weights."""
    K = len(lams)
    ones = np.ones((steps + 1, K))
    traces = {n: si.Trace(norm_sq=ones * norm_sq, grad_sq=ones[:-1] * unit_grad_sq / norm_sq, cos_wg=0 * ones[:-1],
                          angle=ones[:-1] * angle, shift_sq=ones if shift_sq is None else shift_sq,
                          n_elements=n_elements) for n in si.SCALE_INVARIANT}
    return si.Run(kind, np.full(K, lr), np.asarray(lams, float), list(range(K)), traces, ones[:-1],
                  momentum, (beta1, 0.999))


ETA, LAM, G, MU, B1, C = 0.1, np.array([0.01, 0.04]), 3.0, 0.9, 0.8, 12


@pytest.mark.parametrize("kind, m, angle, norm_sq", [  # (kind, momentum, angle, ||w||^2), by hand from the chapter's statements
    ("sgd", 0.0, np.arccos(1 - ETA * LAM), np.sqrt(ETA * G / (LAM * (2 - ETA * LAM)))),
    ("sgd", MU, np.sqrt(2 * ETA * LAM / (1 + MU)), np.sqrt(ETA * G / (2 * LAM * (1 - MU)))),
    ("adamw", 0.0, np.sqrt(2 * ETA * LAM * (1 - B1) / (1 + B1)), ETA * C / (2 * LAM)),
])
def test_equilibrium_ratios_are_one_at_the_chapter_formulas(kind, m, angle, norm_sq):
    eta, lam, b1 = ETA, LAM, B1
    r = si.equilibrium_ratios(_steady_run(kind, eta, lam, angle, norm_sq, G, momentum=m, beta1=b1, n_elements=C), 0.5)
    assert np.allclose(np.array(r["angle"]), 1, rtol=0, atol=1e-12)
    assert np.allclose(np.array(r["norm"]), 1, rtol=0, atol=1e-12)
    off = si.equilibrium_ratios(_steady_run(kind, eta, lam, angle * np.array([1.0, 1.03]), norm_sq * 0.81, G,
                                            momentum=m, beta1=b1, n_elements=C), 0.5)
    assert si.worst_ratio(off["angle"]) == pytest.approx(1.03, rel=1e-12)
    assert si.worst_ratio(off["norm"]) == pytest.approx(0.9, rel=1e-12)


def test_equilibrium_ratios_need_one_learning_rate_and_a_known_optimiser():
    mixed = _steady_run("sgd", ETA, LAM, 0.1, 1.0, G)
    mixed.lrs[1] = 0.2
    with pytest.raises(ValueError, match="one learning rate"):
        si.equilibrium_ratios(mixed, 0.5)
    with pytest.raises(ValueError, match="lion"):
        si.equilibrium_ratios(_steady_run("lion", ETA, LAM, 0.1, 1.0, G), 0.5)


def test_worst_ratio_and_samples_by_seed():
    assert si.worst_ratio([np.array([0.99, 1.02]), np.array([[1.0], [0.97]])]) == 0.97
    per_weight = [np.array([1.0, 2, 3, 4, 5, 6]), np.array([7.0, 8, 9, 10, 11, 12])]
    seeds = [4, 4, 4, 5, 5, 5]     # members seed-major, three decays per seed
    expected = [[1, 2, 3, 7, 8, 9], [4, 5, 6, 10, 11, 12]]
    assert np.array_equal(si.samples_by_seed(per_weight, seeds), expected)


def test_shift_law_error_against_the_geometric_law_and_a_momentum_run(tmp_path):
    eta, lam, steps = 0.1, np.array([0.02, 0.05]), 40
    law = (1 - eta * lam) ** np.arange(steps + 1)[:, None]            # momentum 0: (1 - eta lambda)^t
    exact = _steady_run("sgd", eta, lam, 0.1, 1.0, 1.0, shift_sq=2.0 * law**2, steps=steps)
    err, checked = si.shift_law_error(exact)
    assert err < 1e-12 and checked == 2 * 2 * (steps + 1)
    bumped = law**2 * 2.0
    bumped[10, 1] *= 1.002**2
    err, _ = si.shift_law_error(_steady_run("sgd", eta, lam, 0.1, 1.0, 1.0, shift_sq=bumped, steps=steps))
    assert err == pytest.approx(0.002, rel=1e-9)
    err, checked = si.shift_law_error(exact, floor=law[-1, 1] * np.sqrt(2.0) * 1.0000001)  # the last step falls under the floor
    assert checked == 2 * 2 * (steps + 1) - 2
    teacher = si.make_teacher(6, 12, seed=0)
    heavy = si.train("sgd", 0.05, [0.02, 0.05], [0, 1], teacher, steps=30, batch_size=8, label_noise=0.5,
                     data_seed=0, momentum=0.9, init_scale=0.2, root=tmp_path)
    err, checked = si.shift_law_error(heavy)
    assert err < 1e-7 and checked > 0
    with pytest.raises(ValueError, match="adamw"):
        si.shift_law_error(_steady_run("adamw", eta, lam, 0.1, 1.0, 1.0))


def test_shift_kept_ratio_is_the_smallest_over_weights_and_selected_members():
    eta, lam, steps = 0.01, np.array([1.0, 2.0, 4.0]), 50
    decayed = (1 - eta * lam) ** steps
    shift_sq = np.ones((steps + 1, 3))
    shift_sq[-1] = (np.array([3.0, 20.0, 12.0]) * decayed) ** 2    # kept 3x, 20x, 12x what decay alone leaves
    run = _steady_run("adamw", eta, lam, 0.1, 1.0, 1.0, shift_sq=shift_sq, steps=steps)
    assert si.shift_kept_ratio(run, lam >= 2.0) == pytest.approx(12.0, rel=1e-12)
    assert si.shift_kept_ratio(run, np.array([True, True, True])) == pytest.approx(3.0, rel=1e-12)


# --- the chapter's study: three ensembles and the summaries the chapter records ---

STUDY = dict(d_in=5, d_hidden=8, seed=3, n_seeds=2, multipliers=(1.0, 2.0), steps=20, batch_size=4,
             label_noise=0.5, init_scale=0.2, sgd=(0.1, 0.02), sgdm=(0.01, 0.02, 0.9), adamw=(0.004, 1.0, 0.9))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return si.train_study(**STUDY, root=tmp_path_factory.mktemp("study"))


def test_train_study_trains_the_same_members_under_each_optimiser(study, tmp_path):
    assert study.seeds == [3, 3, 4, 4] and list(study.multipliers) == [1.0, 2.0, 1.0, 2.0]
    assert list(study.runs) == list(si.OPTIMISERS)
    sgd, sgdm, adamw = (study.runs[n] for n in si.OPTIMISERS)
    assert np.array_equal(sgd.weight_decays, [0.02, 0.04, 0.02, 0.04]) and np.all(sgd.lrs == 0.1)
    assert (sgd.kind, sgd.momentum, sgdm.kind, sgdm.momentum) == ("sgd", 0.0, "sgd", 0.9)
    assert adamw.kind == "adamw" and adamw.betas == (0.9, 0.999) and np.array_equal(adamw.weight_decays, [1, 2, 1, 2])
    assert study.n_elements == {"W_0": 5 * 8, "W_1": 8 * 8} and study.noise_floor == 0.125
    # the same run as one direct call of train (another run cache: trained again, the same bits)
    direct = si.train("sgd", 0.1, [0.02, 0.04, 0.02, 0.04], [3, 3, 4, 4], si.make_teacher(5, 8, 3), 20, 4,
                      0.5, 3, init_scale=0.2, root=tmp_path)
    assert np.array_equal(direct.traces["W_1"].norm_sq, sgd.traces["W_1"].norm_sq)


def test_exact_errors_against_numpy(study):
    exact = si.exact_errors(study)
    cos = np.concatenate([tr.cos_wg.ravel() for r in study.runs.values() for tr in r.traces.values()])
    assert exact.orthogonality == np.abs(cos).max() < 1e-12
    run = study.runs["SGD"]
    worst = 0.0
    for tr in run.traces.values():
        for k in range(4):
            for t in range(20):
                eta, lam = run.lrs[k], run.weight_decays[k]
                want = (1 - eta * lam) ** 2 * tr.norm_sq[t, k] + eta**2 * tr.grad_sq[t, k]
                worst = max(worst, abs(tr.norm_sq[t + 1, k] / want - 1))
    assert exact.sgd_step_identity == pytest.approx(worst, rel=1e-6, abs=1e-18) and worst < 1e-12
    assert exact.scale_invariance == max(si.scaled_gradient_error(study.teacher, 3, scale=3.0).values()) < 1e-12


def test_equilibrium_fit_reductions_of_hand_built_ratios():
    fit = si.EquilibriumFit(angle=[np.array([1.0, 1.02, 0.97, 1.01]), np.array([0.99, 1.0, 1.0, 1.05])],
                            norm=[np.array([1.0, 1.0, 0.9, 1.0]), np.array([1.0, 1.0, 1.0, 1.0])],
                            seeds=[0, 0, 1, 1], drift=0.0, angle_sem=0.0, window_loss=0.0, theta=None)
    assert fit.worst("angle") == 1.05 and fit.worst("norm") == 0.9
    assert np.array_equal(fit.samples("angle"), [[1.0, 1.02, 0.99, 1.0], [0.97, 1.01, 1.0, 1.05]])
    assert fit.span("angle") == "0.970–1.050"
    # seed 0 against seed 1, same weight and decay: |1 - 0.97|, |1.02 - 1.01|, |0.99 - 1|, |1 - 1.05|
    assert fit.seed_spread == pytest.approx(0.05, rel=1e-12)


@pytest.mark.parametrize("kind, m", [("sgd", 0.0), ("sgd", MU), ("adamw", 0.0)])
def test_equilibrium_fit_of_a_run_against_numpy(kind, m):
    rng = np.random.default_rng(1)
    steps, K = 40, 2
    run = _steady_run(kind, ETA, LAM, 0.1, 1.0, G, momentum=m, beta1=B1, n_elements=C, steps=steps)
    for n, tr in run.traces.items():
        tr.angle = 0.1 + 0.01 * rng.standard_normal((steps, K))
        tr.norm_sq = np.ones((steps + 1, K))
        tr.norm_sq[30:] = [1.1, 1.0] if n == "W_0" else [1.0, 0.8]     # mean ||w||^2 moves by +10% and -20%
    run.loss = rng.random((steps, K))
    fit = si.equilibrium_fit(run, 0.5)
    assert fit.drift == pytest.approx(0.2, rel=1e-12)
    sem = []
    for tr in run.traces.values():
        for k in range(K):
            blocks = [np.mean(b) for b in np.split(tr.angle[20:, k] ** 2, 10)]
            sem.append(np.std(blocks, ddof=1) / np.sqrt(10) / abs(np.mean(blocks)))
    assert fit.angle_sem == pytest.approx(max(sem), rel=1e-9)
    assert fit.window_loss == pytest.approx(run.loss[20:].mean(), rel=1e-12)
    ratios = si.equilibrium_ratios(run, 0.5)
    assert all(np.array_equal(a, b) for a, b in zip(fit.angle + fit.norm, ratios["angle"] + ratios["norm"]))
    lam = 0.03
    theta = {("sgd", 0.0): np.arccos(1 - ETA * lam), ("sgd", MU): np.sqrt(2 * ETA * lam / (1 + MU)),
             ("adamw", 0.0): np.sqrt(2 * ETA * lam * (1 - B1) / (1 + B1))}[(kind, m)]
    assert fit.theta(lam) == pytest.approx(theta, rel=1e-12)


def test_shift_summary_of_hand_built_runs():
    eta, steps = 0.01, 50
    mult = np.array([1.0, 2.0, 4.0])
    lam = 0.5 * mult
    law = (1 - eta * lam) ** np.arange(steps + 1)[:, None]
    bumped = law**2
    bumped[10, 2] *= 1.003**2                                      # one step 0.3% off the law
    kept = np.ones((steps + 1, 3))
    kept[-1] = (np.array([3.0, 20.0, 12.0]) * law[-1]) ** 2        # AdamW keeps 3x, 20x, 12x of the law
    runs = {"SGD": _steady_run("sgd", eta, lam, 0.1, 1.0, 1.0, shift_sq=law**2, steps=steps),
            "SGD+momentum": _steady_run("sgd", eta, lam, 0.1, 1.0, 1.0, shift_sq=bumped, steps=steps),
            "AdamW": _steady_run("adamw", eta, lam, 0.1, 1.0, 1.0, shift_sq=kept, steps=steps)}
    s = si.shift_summary(si.Study(None, runs, mult, [0, 0, 0], 0, 0.5, steps))
    assert s.sgd_error < 1e-12 and s.sgdm_error == pytest.approx(0.003, rel=1e-9)
    assert s.checked == 2 * (2 * 3 * (steps + 1))                  # two runs, two weights, three members, every step
    assert s.adamw_kept == pytest.approx(12.0, rel=1e-12)          # the member at the largest decay only
    assert s.adamw_efolds == pytest.approx(eta * 2.0 * steps, rel=1e-12)


def test_the_chapter_figures_draw(study, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fits = {name: si.equilibrium_fit(run, 0.5) for name, run in study.runs.items()}
    si.plot_norms_and_angles(study, fits, 0.5)
    si.plot_shift(study)
    assert len(shown) == 2 and all(img.data[:4] == b"\x89PNG" for img in shown)
