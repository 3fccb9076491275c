"""goaldrift.experiments.goals.protection (chapter protecting_goals): the rankings and the
bisection of the sufficient frozen fraction, against known thresholds."""

import math

import numpy as np
import pytest
import torch

from goaldrift.engine.models import MLPConfig, build_model
from goaldrift.engine.tasks.proxy import ProxyTask
from goaldrift.experiments.goals import protection as pr


def test_magnitude_and_construction_rankings():
    task = ProxyTask(8, 3)
    model = build_model(MLPConfig(d_in=8, d_hidden=16), [0])
    mags = pr.magnitude_scores(model)
    assert torch.equal(mags["W_0"], model.W_0.detach().abs())
    shapes = pr.member_shapes(model)
    path = pr.pathway_masks(shapes, task, read_path=True)
    scores = pr.construction_scores(model, task)
    inside = torch.cat([scores[n][path[n]] for n in scores])
    outside = torch.cat([scores[n][~path[n]] for n in scores])
    assert inside.min() > outside.max()
    # freezing exactly the pathway's share by this ranking freezes exactly the pathway
    share = pr.fraction(path).item()
    P = sum(math.prod(s[1:]) for s in shapes.values())
    top = pr.top_fraction_masks(scores, (int(round(share * P)) - 0.5) / P)
    assert all(torch.equal(top[n], path[n]) for n in path)


def test_first_bracket_from_a_grid():
    f = np.array([0.01, 0.03, 0.1, 0.3, 1.0])
    stopped = np.array([[0, 1, 0], [0, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0]], dtype=bool)
    lo, hi = pr.first_bracket(f, stopped)
    assert lo.tolist() == [0.03, 0.0, 0.0] and hi[:2].tolist() == [0.1, 0.01] and math.isinf(hi[2])


@pytest.mark.parametrize("threshold", [0.0123, 0.2, 0.77])
def test_bisection_brackets_a_known_threshold_within_the_factor(threshold):
    f = np.geomspace(0.003, 1.0, 6)
    truth = np.array([threshold, threshold * 1.1])
    lo, hi = pr.first_bracket(f, f[:, None] >= truth[None, :])
    calls = []

    def evaluate(cols, fr):
        calls.append(len(cols))
        return fr >= truth[cols]

    lo, hi, rounds = pr.refine_bracket(lo, hi, evaluate, factor=1.3)
    assert np.all(lo < truth) and np.all(truth <= hi) and np.all(hi / lo <= 1.3)
    # geometric bisection from a ratio of (1/0.003)^(1/5) ~ 3.2 needs ceil(log2(ln 3.2 / ln 1.3)) = 3 rounds
    assert rounds == 3 and len(calls) == 3


def test_bisection_without_a_lower_end_halves_and_gives_up_at_max_rounds():
    lo, hi = np.array([0.0]), np.array([0.01])
    lo2, hi2, rounds = pr.refine_bracket(lo, hi, lambda c, fr: np.ones(len(c), bool), max_rounds=4)
    assert rounds == 4 and lo2[0] == 0.0 and hi2[0] == pytest.approx(0.01 / 16)
    assert pr.bisection_point(np.array([0.01]), np.array([0.04]))[0] == pytest.approx(0.02)
    assert not pr.resolved(np.array([0.0]), np.array([0.01]), 1.3)[0]


def test_unused_row_error_against_the_exact_law():
    steps = np.arange(0, 101, 10)
    wd = np.array([0.0, 0.5, 2.0])
    row = 3.0 * (1 - 4e-3 * wd)[None, :] ** steps[:, None]
    row[:, 0] = 7.0                                     # lambda = 0: not judged by this check
    assert pr.unused_row_error(steps, 4e-3, wd, row) == pytest.approx(0.0, abs=1e-15)
    row[5, 2] *= 1.01
    assert pr.unused_row_error(steps, 4e-3, wd, row) == pytest.approx(0.01, rel=1e-9)


def test_margin_decay_exponents_fit_each_decayed_member_within_the_window():
    steps = np.arange(0, 2001, 50)
    lr, wd = 1e-3, np.array([0.0, 0.5, 1.0, 1.0])
    x = steps[:, None] * lr * wd[None, :]
    margin = 0.8 * np.exp(-np.array([0.0, 2.0, 1.0, 1.0]) * x)
    margin[:, 3] = np.where(x[:, 3] <= 1.0, 0.8 * np.exp(-3.0 * x[:, 3]), 5.0)  # beyond x = 1 outside the window
    got = pr.margin_decay_exponents(steps, lr, wd, margin)
    assert got == pytest.approx([2.0, 1.0, 3.0], rel=1e-9)
    margin[1:, 1] = -1.0                               # only the first evaluation has a positive margin
    assert np.isnan(pr.margin_decay_exponents(steps, lr, wd, margin)[0])
