"""The engine on a GPU: the same function, the same numbers, the same resume.

Skipped where CUDA is absent (CI and the 2-core machine). Run on a GPU box by
``benchmarks/gpu_check.sh``; every other test pins ``device="cpu"`` or uses
CPU tensors, so these are the checks of the CUDA code path.
"""

import numpy as np
import pytest
import torch

from goaldrift.engine import runs
from goaldrift.engine.models import Transformer, TransformerConfig
from goaldrift.engine.tasks.modular import modular_data
from goaldrift.engine.train import OptimConfig, RunConfig, Trainer, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def config(device, **kw):
    base = dict(task={"name": "modular_addition", "p": 23, "train_frac": 0.5},
                model=TransformerConfig.for_modulus(23, d_model=32, n_heads=2, d_head=16, d_mlp=64),
                optim=OptimConfig(lr=[1e-3, 3e-3], weight_decay=[0.0, 1.0], warmup_steps=10),
                steps=100, seeds=[0, 1], eval_every=25, checkpoint_every=None, device=device)
    base.update(kw)
    return RunConfig(**base)


def rel_err(a, b):
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def test_cuda_run_matches_the_cpu_run():
    """100 AdamW steps of a K=2 ensemble: float64 on both devices, so any
    difference is the code path, not rounding."""
    m_cpu, a = train(config("cpu", dtype="float64"), progress=False)
    m_gpu, b = train(config("cuda", dtype="float64"), progress=False)
    for (name, p), q in zip(m_cpu.named_parameters(), m_gpu.parameters()):
        assert rel_err(q.cpu(), p) < 1e-9, name
    assert np.allclose(a["test_loss"], b["test_loss"], rtol=1e-9)


def test_cuda_same_config_same_numbers():
    m1, a = train(config("cuda"), progress=False)
    m2, b = train(config("cuda"), progress=False)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    for (name, p), q in zip(m1.named_parameters(), m2.parameters()):
        assert torch.equal(p, q), name


def test_cuda_resume_from_a_checkpoint_is_bit_identical():
    cfg = config("cuda", checkpoint_every=50)
    whole = Trainer(cfg).run(progress=False)
    states = []
    Trainer(cfg).run(on_checkpoint=states.append, progress=False)
    assert [s.step for s in states] == [50]
    resumed = Trainer(cfg).run(states[0], progress=False)
    for k in whole.model:
        assert torch.equal(whole.model[k], resumed.model[k]), k
    assert torch.equal(whole.step_loss, resumed.step_loss)


def test_cuda_fast_path_equals_plain_forward():
    data = modular_data(p=113, train_frac=0.3, seed=0)
    model = Transformer(TransformerConfig(), [0, 1], device="cuda")
    x, y = data.train_x.cuda(), data.train_y.cuda()
    outs, grads = [], []
    for fast in (False, True):
        model.zero_grad()
        out = model.forward_last(x) if fast else model.forward(x)[:, :, -1]
        torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.repeat(2)).backward()
        outs.append(out.detach())
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert rel_err(outs[1], outs[0]) < 1e-5
    for name in grads[0]:
        assert rel_err(grads[1][name], grads[0][name]) < 1e-5, name


def test_cuda_run_is_cached_with_its_device(tmp_path):
    first = runs.run(config("cuda"), root=tmp_path, progress=False)
    assert first.provenance["device"].startswith("cuda:")
    assert not runs.run(config("cuda"), root=tmp_path, progress=False).trained
