"""The ensemble optimiser against torch.optim, masks, and checkpoint state."""

import io

import pytest
import torch

from goaldrift.engine.models import MLP, MLPConfig
from goaldrift.engine.optim import EnsembleOptimizer

CFG = MLPConfig(d_in=6, d_hidden=12, d_out=2, activation="relu")


X = torch.randn(32, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
Y = torch.randn(32, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def loss_of(params, k=None):
    """MSE of a one-hidden-layer MLP; params are [K, ...] (member k) or plain."""
    W0, b0, W1, b1 = (params[n] if k is None else params[n][k] for n in ("W_0", "b_0", "W_1", "b_1"))
    return ((torch.relu(X @ W0 + b0) @ W1 + b1 - Y) ** 2).mean()


def torch_reference(opt_factory, seed, steps=100, warmup=0):
    model = MLP(CFG, [seed], dtype=torch.float64)
    params = {n: torch.nn.Parameter(p.detach()[0].clone()) for n, p in model.named_parameters()}
    opt = opt_factory(list(params.values()))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: min(1.0, (t + 1) / warmup) if warmup else 1.0)
    for _ in range(steps):
        opt.zero_grad()
        loss_of(params).backward()
        opt.step()
        sched.step()
    return params


def ours(kind, seeds, lr, wd, steps=100, **kw):
    model = MLP(CFG, seeds, dtype=torch.float64)
    opt = EnsembleOptimizer(model, kind=kind, lr=lr, weight_decay=wd, **kw)
    for _ in range(steps):
        sum(loss_of(dict(model.named_parameters()), k) for k in range(model.K)).backward()
        opt.step()
        opt.zero_grad()
    return model, opt


def assert_close(model, k, ref):
    for n, p in ref.items():
        err = ((getattr(model, n)[k] - p).abs().max() / p.abs().max()).item()
        assert err < 1e-6, (n, err)


CASES = {
    "adamw": lambda lr, wd: (lambda ps: torch.optim.AdamW(ps, lr=lr, weight_decay=wd, betas=(0.9, 0.98), eps=1e-8)),
    "adam_l2": lambda lr, wd: (lambda ps: torch.optim.Adam(ps, lr=lr, weight_decay=wd, betas=(0.9, 0.98), eps=1e-8)),
    "sgd": lambda lr, wd: (lambda ps: torch.optim.SGD(ps, lr=lr, weight_decay=wd)),
    "sgd_momentum": lambda lr, wd: (lambda ps: torch.optim.SGD(ps, lr=lr, weight_decay=wd, momentum=0.9)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_single_member_matches_torch(case):
    kind = "sgd" if case.startswith("sgd") else case
    momentum = 0.9 if case == "sgd_momentum" else 0.0
    lr, wd = (3e-2, 0.1) if kind == "sgd" else (1e-2, 0.5)
    warmup = 10 if kind == "adamw" else 0
    ref = torch_reference(CASES[case](lr, wd), seed=0, warmup=warmup)
    model, _ = ours(kind, [0], lr, wd, momentum=momentum, warmup_steps=warmup)
    assert_close(model, 0, ref)


@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_members_have_their_own_lr_and_weight_decay(kind):
    seeds, lrs, wds = [0, 1, 2], [1e-2, 3e-3, 2e-2], [0.0, 1.0, 0.3]
    model, _ = ours(kind, seeds, lrs, wds, steps=50)
    for k in range(3):
        ref = torch_reference(CASES[kind](lrs[k], wds[k]), seed=seeds[k], steps=50)
        assert_close(model, k, ref)


def test_group_masks_frozen_exempt_decayed():
    # zero loss gradient: only weight decay acts, so each group's law is exact
    model = MLP(CFG, [0, 1], dtype=torch.float64)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = EnsembleOptimizer(model, kind="adamw", lr=[0.1, 0.05], weight_decay=[0.5, 1.0],
                            groups={"W_0": "frozen", "b_*": "exempt"})
    for _ in range(20):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.equal(model.W_0, before["W_0"])
    assert torch.equal(model.b_0, before["b_0"]) and torch.equal(model.b_1, before["b_1"])
    factor = torch.tensor([(1 - 0.1 * 0.5) ** 20, (1 - 0.05 * 1.0) ** 20], dtype=torch.float64)
    assert torch.allclose(model.W_1, before["W_1"] * factor[:, None, None], rtol=1e-12)


@pytest.mark.parametrize("kind", ["adamw", "adam_l2", "sgd"])
def test_elementwise_masks_per_member(kind):
    model = MLP(CFG, [0, 1], dtype=torch.float64)
    before = model.W_0.detach().clone()
    g = torch.Generator().manual_seed(0)
    frozen = torch.rand(model.W_0.shape, generator=g) < 0.3
    exempt = (torch.rand(model.W_0.shape, generator=g) < 0.3) & ~frozen
    opt = EnsembleOptimizer(model, kind=kind, lr=0.05, weight_decay=1.0,
                            frozen_masks={"W_0": frozen}, exempt_masks={"W_0": exempt})
    for _ in range(10):
        loss = sum(loss_of(dict(model.named_parameters()), k) for k in range(2))
        loss.backward()
        grad_was = model.W_0.grad.clone()
        opt.step()
        opt.zero_grad()
    assert torch.equal(model.W_0[frozen], before[frozen])
    assert frozen[0].ne(frozen[1]).any()  # members freeze different weights
    assert not torch.equal(model.W_0[~frozen], before[~frozen])
    # with no gradient at all, exempt weights never move while decayed ones shrink
    opt2 = EnsembleOptimizer(model, kind=kind, lr=0.05, weight_decay=1.0,
                             frozen_masks={"W_0": frozen}, exempt_masks={"W_0": exempt})
    snap = model.W_0.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt2.step()
    assert torch.equal(model.W_0[exempt | frozen], snap[exempt | frozen])
    decayed = ~(exempt | frozen)
    if kind != "adam_l2":  # Adam+L2 normalises the decay gradient; it still moves
        assert torch.allclose(model.W_0[decayed], snap[decayed] * (1 - 0.05), rtol=1e-12)
    assert grad_was is not None


def test_state_dict_round_trip_resumes_exactly():
    model, opt = ours("adamw", [0, 1], [1e-2, 2e-2], 0.5, steps=7, warmup_steps=5)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    for _ in range(8):
        sum(loss_of(dict(model.named_parameters()), k) for k in range(2)).backward()
        opt.step()
        opt.zero_grad()
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    model2 = MLP(CFG, [0, 1], dtype=torch.float64)
    model2.load_state_dict(saved["model"])
    opt2 = EnsembleOptimizer(model2, kind="adamw", lr=1.0, weight_decay=0.0, warmup_steps=5)
    opt2.load_state_dict(saved["opt"])
    for _ in range(8):
        sum(loss_of(dict(model2.named_parameters()), k) for k in range(2)).backward()
        opt2.step()
        opt2.zero_grad()
    for n, p in model.named_parameters():
        assert torch.equal(p, getattr(model2, n)), n


@pytest.mark.parametrize("kw, msg", [
    (dict(kind="rmsprop"), "unknown optimiser kind"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(weight_decay=-1.0), "weight_decay must be >= 0"),
    (dict(lr=[1e-3, 1e-3, 1e-3]), "3 values for an ensemble of 2"),
    (dict(groups={"W_*": "sticky"}), "unknown group"),
    (dict(frozen_masks={"W_0": torch.zeros(3, 3, dtype=torch.bool)}), "has shape"),
])
def test_bad_arguments_are_refused(kw, msg):
    model = MLP(CFG, [0, 1])
    with pytest.raises(ValueError, match=msg):
        EnsembleOptimizer(model, **kw)
