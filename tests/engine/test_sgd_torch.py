"""The optimiser kind "sgd_torch" (chapter factorised_simplicity): torch.optim.SGD's own
arithmetic, bit for bit, per member; one step against a hand computation in numpy."""

import numpy as np
import pytest
import torch

from goaldrift.engine.optim import EnsembleOptimizer

RNG = np.random.default_rng(7)


def quadratic_loss(w: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A loss with a curved gradient (w^3 terms), so many steps exercise the arithmetic."""
    return (0.25 * (w**2 - target) ** 2).sum()


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_each_member_follows_torch_sgd_bit_for_bit(momentum):
    K, shape, steps = 3, (4, 5), 40
    lrs, wds = [0.05, 0.02, 0.1], [0.3, 0.0, 1.5]
    start = torch.tensor(RNG.standard_normal((K, *shape)))
    target = torch.tensor(RNG.standard_normal(shape))

    w = torch.nn.Parameter(start.clone())
    opt = EnsembleOptimizer([("w", w)], kind="sgd_torch", lr=lrs, weight_decay=wds, momentum=momentum)
    for _ in range(steps):
        sum(quadratic_loss(w[k], target) for k in range(K)).backward()
        opt.step()
        opt.zero_grad()

    for k in range(K):
        ref = torch.nn.Parameter(start[k].clone())
        ref_opt = torch.optim.SGD([ref], lr=lrs[k], weight_decay=wds[k], momentum=momentum)
        for _ in range(steps):
            ref_opt.zero_grad()
            quadratic_loss(ref, target).backward()
            ref_opt.step()
        assert torch.equal(w.detach()[k], ref.detach()), k


def test_one_step_is_gradient_plus_l2_by_hand():
    lr, wd = 0.1, 0.3
    w0 = RNG.standard_normal((1, 6))
    g = RNG.standard_normal((1, 6))
    w = torch.nn.Parameter(torch.tensor(w0))
    opt = EnsembleOptimizer([("w", w)], kind="sgd_torch", lr=lr, weight_decay=wd)
    w.grad = torch.tensor(g)
    opt.step()
    expected = w0 - lr * (g + wd * w0)
    assert np.allclose(w.detach().numpy(), expected, rtol=1e-15, atol=1e-16)
    assert not np.array_equal(w0, w.detach().numpy())


def test_groups_exempt_and_frozen_and_no_element_masks():
    a, b, c = (torch.nn.Parameter(torch.ones(1, 3, dtype=torch.float64)) for _ in range(3))
    opt = EnsembleOptimizer([("a", a), ("b", b), ("c", c)], kind="sgd_torch", lr=0.5, weight_decay=0.2,
                            groups={"b": "exempt", "c": "frozen"})
    for p in (a, b, c):
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(a.detach(), torch.full((1, 3), 1 - 0.5 * 0.2, dtype=torch.float64), rtol=0, atol=1e-16)
    assert torch.equal(b.detach(), torch.ones(1, 3, dtype=torch.float64))   # exempt: no decay, zero gradient
    assert torch.equal(c.detach(), torch.ones(1, 3, dtype=torch.float64))   # frozen
    with pytest.raises(ValueError, match="element-wise masks"):
        EnsembleOptimizer([("a", a)], kind="sgd_torch", lr=0.1, frozen_masks={"a": torch.zeros(1, 3, dtype=torch.bool)})


def test_objective_gradient_adds_the_decay_term():
    w = torch.nn.Parameter(torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=torch.float64))
    opt = EnsembleOptimizer([("w", w)], kind="sgd_torch", lr=0.1, weight_decay=[0.5, 0.0])
    w.grad = torch.tensor([[0.1, 0.2], [-0.4, 0.3]], dtype=torch.float64)
    # member 0: |0.1 + 0.5| = 0.6, |0.2 - 1.0| = 0.8; member 1: no decay, max |g| = 0.4
    assert opt.objective_grad_max().tolist() == pytest.approx([0.8, 0.4], abs=1e-15)
    w.grad[1, 0] = float("nan")
    assert np.isnan(opt.objective_grad_max()[1].item())
