"""Flush-to-zero in every thread that trains on CPU (goaldrift.engine.device).

Subnormal floats made late CPU steps ~4x slower. These tests read the cause
directly, never a timing: whether subnormals survive an op that is split
across two intra-op threads, and whether a step from a saturated state
leaves any in the backward pass, the weights or the optimiser state.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from goaldrift.engine.device import SUBNORMAL_BITS, call_with_flushed_denormals, workers_flush_denormals
from goaldrift.experiments.grokking.grokking_runs import transformer
from goaldrift.engine.train import OptimConfig, RunConfig, Trainer

from conftest import REPO


def subnormals(t: torch.Tensor) -> int:
    """How many float32 entries are subnormal, read from the bits (a float
    comparison would itself be flushed under DAZ)."""
    b = t.detach().to(torch.float32).contiguous().view(torch.int32)
    return int((((b & 0x7F800000) == 0) & ((b & 0x007FFFFF) != 0)).sum())


def test_subnormals_counts_bits():
    x = torch.tensor([SUBNORMAL_BITS, 0, 1, 0x00800000, -0x7FFFFFFF], dtype=torch.int32).view(torch.float32)
    assert subnormals(x) == 3  # two tiny positive and one negative subnormal; 0 and the smallest normal are not


PROBE = textwrap.dedent("""
    import torch
    from goaldrift.engine.device import SUBNORMAL_BITS, call_with_flushed_denormals, flush_denormals, workers_flush_denormals
    torch.set_num_threads(2)

    def chunks(stop=None):
        # a subnormal float32 tensor split across both intra-op threads,
        # through an elementwise op and a batched matmul (MKL): 1 if any
        # output entry of that half is still non-zero
        x = torch.full((1 << 20,), SUBNORMAL_BITS, dtype=torch.int32).view(torch.float32)
        y = (x * 1.0).view(torch.int32).ne(0)
        a = torch.full((64, 32, 32), 0x1E3CE508, dtype=torch.int32).view(torch.float32)  # 1e-20
        c = torch.bmm(a, a).view(torch.int32).ne(0)  # 32e-40: subnormal unless flushed
        h = y.numel() // 2
        return [int(y[:h].any()), int(y[h:].any()), int(c[:32].any()), int(c[32:].any())]

    print("pool without FTZ", chunks(), workers_flush_denormals())   # creates the pool
    flush_denormals()                                                   # too late for its worker
    print("FTZ set late", chunks(), workers_flush_denormals())
    torch.set_num_threads(1); chunks(); torch.set_num_threads(2)
    print("set_num_threads", chunks(), workers_flush_denormals())
    result, record = call_with_flushed_denormals(chunks)
    print("training thread", result, record["workers_flush_denormals"])
""")


def test_ftz_reaches_every_intra_op_thread():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" [", 1) for line in out.stdout.strip().splitlines())
    # the probe can fail: with no FTZ every chunk keeps its subnormals, and
    # FTZ set on the main thread after the pool exists misses the worker's half
    assert lines["pool without FTZ"] == "1, 1, 1, 1] False"
    assert lines["FTZ set late"].endswith("False") and "1" in lines["FTZ set late"].split("]")[0]
    assert lines["set_num_threads"].endswith("False")
    # the engine's training thread flushes in every chunk
    assert lines["training thread"] == "0, 0, 0, 0] True"


def _saturated(K=16, steps=300):
    """A small model memorised in ``steps`` steps, its unembedding scaled 10x
    so that the softmax saturates into the subnormal range, tiled to K
    identical members so that the step's tensors are split across threads."""
    def config(k):
        return RunConfig(task={"name": "modular_addition", "p": 23, "train_frac": 0.5}, model=transformer(23, 32),
                         optim=OptimConfig(lr=1e-2, weight_decay=1.0, warmup_steps=10), steps=steps + 1,
                         seeds=[0] * k, eval_every=steps + 1, checkpoint_every=steps)
    snaps = []
    Trainer(config(1)).run(on_checkpoint=snaps.append)
    state = snaps[0]
    tile = lambda v: v.repeat(K, *[1] * (v.dim() - 1))
    state.model = {n: tile(v * 10 if n == "W_U" else v) for n, v in state.model.items()}
    o = state.optimizer
    o["lr"], o["weight_decay"] = tile(o["lr"]), tile(o["weight_decay"])
    o["state"] = {n: {k: tile(v) for k, v in s.items()} for n, s in o["state"].items()}
    state.metrics, state.step_loss = {}, torch.zeros(steps + 1, K)
    return config(K), state


def _watch_logit_grads(trainer, seen):
    predict = trainer.model.predict

    def watched(x):
        out = predict(x)
        if out.requires_grad:  # per member: the members are split across threads
            out.register_hook(lambda g: seen.append([subnormals(gk) for gk in g]))
        return out

    trainer.model.predict = watched


def saturated_step_counts() -> dict:
    """Run in a fresh process by the test below: like a notebook, it has
    used two intra-op threads before it trains, so its pool exists without
    FTZ. Counts the subnormals that one step from a saturated state meets."""
    torch.set_num_threads(2)
    torch.set_flush_denormal(False)
    torch.ones(1 << 20).mul_(2)  # the intra-op pool now exists, without FTZ
    cfg, state = _saturated()
    # control: the same step on this thread, without FTZ
    torch.set_flush_denormal(False)
    plain = Trainer(cfg)
    plain.model.load_state_dict(state.model)
    plain.optimizer.load_state_dict(state.optimizer)
    seen_plain = []
    _watch_logit_grads(plain, seen_plain)
    plain.train_step(state.step)

    engine = Trainer(cfg)
    seen = []
    _watch_logit_grads(engine, seen)
    final = engine.run(state)
    return {"control_logit_grads": seen_plain, "logit_grads": seen, "float_mode": engine.float_mode,
            "weights": sum(subnormals(v) for v in final.model.values()),
            "optimizer_state": sum(subnormals(v) for s in final.optimizer["state"].values() for v in s.values())}


def test_a_step_from_a_saturated_state_leaves_no_subnormals():
    script = "import json, test_subnormals as t; print(json.dumps(t.saturated_step_counts()))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         cwd=REPO / "tests" / "engine", env={"PYTHONPATH": f"{REPO / 'src'}:{REPO / 'tests' / 'engine'}:{REPO / 'tests'}", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    # the test can fail: without FTZ every member's logit gradients hold subnormals
    control = r["control_logit_grads"][0]
    assert len(control) == 16 and min(control) > 0, control
    assert r["logit_grads"] == [[0] * 16], r["logit_grads"]
    assert r["float_mode"]["flush_denormals"] and r["float_mode"]["workers_flush_denormals"]
    assert r["weights"] == 0 and r["optimizer_state"] == 0


def test_an_error_in_the_training_thread_reaches_the_caller():
    def boom(stop):
        raise ValueError("from the training thread")

    with pytest.raises(ValueError, match="from the training thread"):
        call_with_flushed_denormals(boom)


def test_the_calling_thread_keeps_its_float_mode():
    torch.set_flush_denormal(False)
    call_with_flushed_denormals(lambda stop: None)
    assert not workers_flush_denormals()


def test_a_cached_run_records_its_float_mode(tmp_path):
    from goaldrift.engine import runs

    cfg = RunConfig(task={"name": "modular_addition", "p": 5, "train_frac": 0.5}, model=transformer(5, 8),
                    steps=2, eval_every=1, checkpoint_every=None, device="cpu")
    mode = runs.run(cfg, root=tmp_path).provenance["float_mode"]
    assert mode["flush_denormals"] is True and mode["workers_flush_denormals"] is True
    assert runs.run(cfg, root=tmp_path).provenance["float_mode"] == mode  # and the cached copy keeps it
