"""The transformer's law prediction (experiments.goals.token_drift.transformer_law)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from goaldrift.experiments.goals import token_drift as tok


def test_transformer_law_predicts_from_the_two_costs(monkeypatch):
    costs = {"goal": np.array([3.0, 1.5]), "proxy": np.array([1.0, 1.0])}
    monkeypatch.setattr(tok, "network_cost", lambda run, setup: costs[run.name])
    monkeypatch.setattr(tok, "start_share", lambda run, setup: np.array([0.99, 0.9]))
    goal = SimpleNamespace(name="goal", metrics={"test_acc": np.array([[0.5, 0.5], [1.0, 0.98]])})
    proxy = SimpleNamespace(name="proxy", metrics={"test_acc": np.array([[0.5, 0.5], [1.0, 1.0]])})
    law = tok.transformer_law(goal, None, proxy, None)
    assert law.rho.tolist() == [3.0, 1.5]
    # independent: the closed form (rho ln(2 A0) + ln(1 / (2 (1 - A0)))) / (2 (rho - 1))
    by_hand = [(r * math.log(2 * a) + math.log(1 / (2 * (1 - a)))) / (2 * (r - 1)) for r, a in [(3.0, 0.99), (1.5, 0.9)]]
    assert law.pred == pytest.approx(by_hand, rel=1e-12)
    assert law.pred_min == pytest.approx(min(by_hand)) and law.rho_mean == 2.25
    assert law.markdown() == ("phase-1 test accuracy (goal): [1.0, 0.98]; proxy alone: [1.0, 1.0]; "
                              f"cost ratio per seed: [3.0, 1.5]; predicted drift point per seed: "
                              f"{np.round(by_hand, 2).tolist()}")
