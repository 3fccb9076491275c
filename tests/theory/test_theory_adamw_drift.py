"""AdamW drift theory checked against torch.optim.AdamW and torch.optim.SGD (an optimiser
independent of the engine's), and against counting steps."""

import math

import pytest
import torch

from goaldrift.theory import adamw_drift as th


def _adamw(params, lr, weight_decay, eps=1e-8, betas=(0.9, 0.98)):
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, eps=eps, betas=betas)


@pytest.mark.parametrize("k_factors, eta_lambda", [(1, 0.01), (2, 0.002), (3, 0.004)])
def test_pathway_half_life_by_counting_adamw_steps(k_factors, eta_lambda):
    # k scalar factors with zero loss gradient: only the decoupled decay moves them
    factors = [torch.nn.Parameter(torch.tensor(1.7, dtype=torch.float64)) for _ in range(k_factors)]
    opt = _adamw(factors, lr=0.01, weight_decay=eta_lambda / 0.01)
    start = math.prod(f.item() for f in factors)
    steps = 0
    while math.prod(f.item() for f in factors) > start / 2:
        for f in factors:
            f.grad = torch.zeros_like(f)
        opt.step()
        steps += 1
    predicted = th.half_life_at(k_factors, eta_lambda)
    exact = float(th.pathway_half_life().steps[1].rhs.subs({th.k: k_factors, th.eta: eta_lambda, th.lam: 1}))
    assert steps - 1 < exact <= steps
    assert predicted == pytest.approx(exact, rel=eta_lambda)  # first order in eta*lambda


@pytest.mark.parametrize("grad", [1e-4, 1e-2, 1.0, 50.0])
@pytest.mark.parametrize("betas", [(0.9, 0.98), (0.0, 0.0)])
def test_sign_growth_step_is_eta_whatever_the_gradient(grad, betas):
    w = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = _adamw([w], lr=0.003, weight_decay=0.0, betas=betas)
    for _ in range(40):  # a linear loss: the gradient is constant
        w.grad = torch.tensor(grad, dtype=torch.float64)
        opt.step()
    per_step = -w.item() / 40
    assert per_step == pytest.approx(th.sign_step_at(0.003, grad, 1e-8), rel=1e-9)
    assert per_step == pytest.approx(0.003 * float(th.sign_growth_step().result.subs(th.eta, 1)), rel=1e-3)


@pytest.mark.parametrize("weight_decay, sign", [(0.5, 1.0), (2.0, -1.0), (8.0, 1.0)])
def test_linf_equilibrium_is_where_adamw_settles(weight_decay, sign):
    w = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = _adamw([w], lr=0.01, weight_decay=weight_decay)
    for _ in range(6000):  # (1 - eta*lambda)^6000 <= e^-30 at the smallest eta*lambda
        w.grad = torch.tensor(sign * 0.3, dtype=torch.float64)  # a gradient that keeps its sign
        opt.step()
    assert abs(w.item()) == pytest.approx(th.linf_bound_at(weight_decay), rel=1e-6)
    assert w.item() == pytest.approx(float(th.linf_equilibrium().result.subs({th.s: sign, th.lam: weight_decay})),
                                     rel=1e-6)


def test_large_eps_adam_follows_sgd_at_rate_eta_over_eps():
    torch.manual_seed(0)
    target = torch.randn(5, dtype=torch.float64)
    a = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    b = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    eps, lr = 100.0, 5.0
    adam = _adamw([a], lr=lr, weight_decay=0.0, eps=eps, betas=(0.0, 0.98))  # beta1 = 0: no averaging of g
    sgd = torch.optim.SGD([b], lr=th.large_eps_rate(lr, eps))
    for _ in range(200):
        for p, opt in ((a, adam), (b, sgd)):
            opt.zero_grad()
            ((p - target) ** 2).sum().backward()
            opt.step()
    # the two agree to first order in |g|/eps (|g| <= 2 |target| < 10 here)
    assert torch.allclose(a, b, rtol=0.1, atol=0.0)
    assert torch.allclose(a, target, rtol=1e-3)


def test_large_eps_step_expansion_matches_the_exact_step():
    for grad in (1e-3, 1e-2, 0.1):
        exact = 2.0 * grad / (grad + 1.0)
        leading = float(th.large_eps_step().result.subs({th.eta: 2.0, th.g: grad, th.eps: 1.0}))
        assert abs(leading / exact - 1) <= 1.01 * grad  # relative error g/eps


def test_clock_ratio_under_each_clock():
    l2, sign = th.clock_ratio_at(0.004, 0.002)
    assert l2 == 1.0 and sign == pytest.approx(2.0)
    # the same numbers from the two clocks' definitions, computed directly
    x_d, c, lam1 = 0.4, 3.0, 0.5
    lam2 = 0.004 * lam1 / 0.002
    assert (x_d / (0.002 * lam2)) / (x_d / (0.004 * lam1)) == pytest.approx(l2)
    assert (c / 0.002) / (c / 0.004) == pytest.approx(sign)
    assert float(th.clock_ratio().result.subs({th.eta_1: 3.0, th.eta_2: 1.5})) == pytest.approx(2.0)


def test_proxy_capacity_is_width_times_scale_over_lambda_squared():
    # brute force: every hidden unit at the box's corner, input weight and readout 1/lambda
    width, scale, lam = 64, 0.1, 0.5
    w_in = torch.full((width,), 1 / lam)
    readout = torch.full((width,), 1 / lam)
    largest = (torch.relu(w_in * scale) * readout).sum().item()
    assert th.proxy_capacity(width, scale, lam) == pytest.approx(largest)
    assert th.proxy_capacity(64, 0.1, 4.0) < 1 < th.proxy_capacity(64, 0.1, 0.5)
