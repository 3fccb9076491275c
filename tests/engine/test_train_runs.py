"""Training loop and run cache: determinism, caching, atomicity, resume."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from goaldrift.engine import runs
from goaldrift.engine.models import MLPConfig, TransformerConfig
from goaldrift.engine.train import ConfigError, OptimConfig, RunConfig, Trainer, register_metric, train



def mlp_config(**kw):
    base = dict(
        task={"name": "modular_addition", "p": 11, "train_frac": 0.5, "encoding": "onehot"},
        model=MLPConfig(d_in=22, d_hidden=32, d_out=11, activation="quadratic"),
        optim=OptimConfig(kind="adamw", lr=[3e-3, 1e-2], weight_decay=[0.0, 1.0]),
        steps=60, seeds=[0, 1], eval_every=20, checkpoint_every=None, device="cpu",
    )
    base.update(kw)
    return RunConfig(**base)


def test_same_config_same_numbers():
    cfg = mlp_config(batch_size=16)
    m1, a = train(cfg, progress=False)
    m2, b = train(cfg, progress=False)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    for (n, p), q in zip(m1.named_parameters(), m2.parameters()):
        assert torch.equal(p, q), n
    _, c = train(mlp_config(batch_size=16, batch_seed=1), progress=False)
    assert not np.array_equal(a["step_loss"], c["step_loss"])


def test_metrics_shapes_and_extension_hook():
    @register_metric("w0_norm")
    def w0_norm(model, data, step):
        return {"w0_norm": model.W_0.flatten(1).norm(dim=1), "step_seen": torch.full((model.K,), step)}

    same_lr = OptimConfig(lr=1e-2, weight_decay=[0.0, 1.0])
    _, m = train(mlp_config(metrics=["w0_norm"], optim=same_lr), progress=False)
    assert list(m["step"]) == [0, 20, 40, 60]
    for key in ("train_loss", "test_loss", "train_acc", "test_acc", "weight_norm_sq", "w0_norm"):
        assert m[key].shape == (4, 2), key
    assert list(m["step_seen"][:, 0]) == [0, 20, 40, 60]
    assert m["step_loss"].shape == (60, 2)
    # same η: the decayed member ends with the smaller weights
    assert m["weight_norm_sq"][-1, 1] < m["weight_norm_sq"][-1, 0]
    # the step loss at step 0 is the train loss evaluated at step 0 (float32 vs float64)
    assert np.allclose(m["step_loss"][0], m["train_loss"][0], rtol=1e-5)


def test_k2_transformer_learns_and_mse_loss_works():
    cfg = RunConfig(task={"name": "modular_addition", "p": 13, "train_frac": 0.6},
                    model=TransformerConfig.for_modulus(13, d_model=32, n_heads=4, d_head=8, d_mlp=64),
                    optim=OptimConfig(lr=1e-2, weight_decay=1.0, warmup_steps=10),
                    steps=150, seeds=[0, 1], eval_every=50, device="cpu")
    _, m = train(cfg, progress=False)
    assert (m["train_acc"][-1] > 0.9).all()
    _, m = train(mlp_config(loss="mse", optim=OptimConfig(kind="sgd", lr=0.5, weight_decay=0.01, momentum=0.9)),
                 progress=False)
    assert (m["train_loss"][-1] < m["train_loss"][0]).all()


@pytest.mark.parametrize("change, msg", [
    (dict(optim=OptimConfig(weight_decay=-0.1)), "weight_decay must be >= 0"),
    (dict(optim=OptimConfig(lr=0.0)), "lr must be > 0"),
    (dict(optim=OptimConfig(kind="lion")), "unknown optimiser kind"),
    (dict(optim=OptimConfig(lr=[1e-3, 1e-3, 1e-3])), "3 values for 2 members"),
    (dict(steps=0), "steps must be a positive int"),
    (dict(eval_every=0), "eval_every"),
    (dict(seeds=[]), "seeds"),
    (dict(loss="hinge"), "unknown loss"),
    (dict(dtype="float16"), "unknown dtype"),
    (dict(task={"name": "nope"}), "unknown task"),
    (dict(metrics=["nope"]), "unknown metric"),
    (dict(batch_size=10_000), "exceeds"),
    (dict(model=MLPConfig(d_in=22, d_hidden=0, d_out=11)), "positive ints"),
    (dict(optim=OptimConfig(groups={"W_0": "glued"})), "optim.groups"),
])
def test_bad_config_is_a_one_line_config_error_before_training(tmp_path, change, msg):
    with pytest.raises(ConfigError, match=msg) as info:
        runs.run(mlp_config(**change), root=tmp_path)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
    assert not any(tmp_path.iterdir())  # nothing was written, nothing trained


def test_config_json_round_trip_and_hash():
    cfg = mlp_config(model=MLPConfig(d_in=22, d_hidden=[8, 8], d_out=11))
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    t = RunConfig()
    assert RunConfig.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    h = runs.config_hash(cfg)
    assert h == runs.config_hash(mlp_config(model=MLPConfig(d_in=22, d_hidden=[8, 8], d_out=11)))
    assert h != runs.config_hash(mlp_config(steps=61))
    mask = {"frozen": {"W_0": torch.zeros(2, 22, 32, dtype=torch.bool)}}
    assert h != runs.config_hash(cfg, masks=mask)


def test_every_field_of_a_data_object_enters_the_run_key():
    """Two data objects that differ anywhere (a scalar field, a tensor inside
    a list, a numpy array) must not share a cache entry."""
    from dataclasses import dataclass, field

    @dataclass
    class Data:
        train_x: torch.Tensor
        p: int
        extra: list = field(default_factory=list)

    x = torch.arange(6.0).reshape(2, 3)
    base = runs.tensor_digest(Data(x, 5, [torch.zeros(2)]))
    assert base == runs.tensor_digest(Data(x.clone(), 5, [torch.zeros(2)]))
    assert base != runs.tensor_digest(Data(x, 7, [torch.zeros(2)]))
    assert base != runs.tensor_digest(Data(x, 5, [torch.ones(2)]))
    assert base != runs.tensor_digest(Data(x, 5, []))
    assert runs.tensor_digest({"a": np.zeros(3)}) != runs.tensor_digest({"a": np.ones(3)})
    assert runs.tensor_digest({"a": 1}) != runs.tensor_digest({"a": 1.0})
    cfg = mlp_config()
    assert runs.config_hash(cfg, data=Data(x, 5)) != runs.config_hash(cfg, data=Data(x, 6))
    with pytest.raises(TypeError, match="cannot hash a function"):
        runs.tensor_digest({"f": lambda: 0})


def test_finished_run_is_loaded_not_recomputed(tmp_path, monkeypatch):
    cfg = mlp_config()
    first = runs.run(cfg, root=tmp_path)
    assert first.trained
    names = {p.name for p in first.path.iterdir()}
    assert {"config.json", "metrics.npz", "weights.pt", "provenance.json"} <= names
    assert "checkpoint.pt" not in names
    prov = first.provenance
    assert {"git_commit", "versions", "device", "wall_time_s"} <= set(prov)
    assert {"python", "torch", "numpy"} <= set(prov["versions"])

    def boom(*a, **k):
        raise AssertionError("a cached run must not train")
    monkeypatch.setattr(Trainer, "run", boom)
    monkeypatch.setenv("GOALDRIFT_RUNS_DIR", str(tmp_path))
    second = runs.run(cfg)  # root from the environment variable
    assert not second.trained and second.path == first.path
    for k in first.metrics:
        assert np.array_equal(first.metrics[k], second.metrics[k])
    for (n, p), q in zip(first.model.named_parameters(), second.model.parameters()):
        assert torch.equal(p, q), n


def test_masks_and_init_state_enter_the_run(tmp_path):
    phase1 = runs.run(mlp_config(steps=20), root=tmp_path)
    frozen = torch.zeros(2, 22, 32, dtype=torch.bool)
    frozen[:, :11] = True
    phase2 = runs.run(mlp_config(steps=20), root=tmp_path, init_state=phase1.model.state_dict(),
                      masks={"frozen": {"W_0": frozen}})
    assert phase2.path != phase1.path
    assert torch.equal(phase2.model.W_0[frozen], phase1.model.W_0[frozen])
    assert not torch.equal(phase2.model.W_0[~frozen], phase1.model.W_0[~frozen])


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.npz"
    runs.write_npz(path, {"a": np.arange(3)})

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")
    monkeypatch.setattr(runs.np, "savez", crash)
    with pytest.raises(OSError):
        runs.write_npz(path, {"a": np.arange(5)})
    with np.load(path) as f:
        assert np.array_equal(f["a"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.npz"]  # no temp file left


SCRIPT = textwrap.dedent("""
    import os, sys, time, torch
    sys.path.insert(0, {tests!r})
    from test_train_runs import mlp_config
    from goaldrift.engine.train import OptimConfig, register_metric
    from goaldrift.engine.runs import run
    torch.set_num_threads(1)

    @register_metric("slow")
    def slow(model, data, step):
        time.sleep(float(os.environ.get("SLOW", "0")))
        return {{"slow": torch.zeros(model.K)}}

    cfg = mlp_config(steps=300, eval_every=10, checkpoint_every=20, batch_size=16, metrics=["slow"],
                     optim=OptimConfig(lr=[3e-3, 1e-2], weight_decay=[0.1, 1.0], warmup_steps=10))
    r = run(cfg, root=sys.argv[1], progress=False)
    print(r.path)
""")


@pytest.mark.slow  # three training processes, one killed mid-run
def test_killed_run_resumes_to_identical_results(tmp_path):
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "SLOW": "0.2"}  # slow evals: a wide window to kill it mid-run
    proc = subprocess.Popen([sys.executable, str(script), str(killed_root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    clean = subprocess.Popen([sys.executable, str(script), str(clean_root)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not list(killed_root.glob("*/checkpoint.pt")):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_path = next(killed_root.iterdir())
    assert not (run_path / "provenance.json").exists()  # it really died mid-run

    resumed = subprocess.run([sys.executable, str(script), str(killed_root)], capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert clean.wait() == 0, clean.stderr.read().decode()
    clean_path = next(clean_root.iterdir())
    assert clean_path.name == run_path.name

    prov = json.loads((run_path / "provenance.json").read_text())
    assert prov["resumed_from_step"] and prov["resumed_from_step"] > 0
    a = torch.load(run_path / "weights.pt", weights_only=True)
    b = torch.load(clean_path / "weights.pt", weights_only=True)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with np.load(run_path / "metrics.npz") as fa, np.load(clean_path / "metrics.npz") as fb:
        assert fa.files == fb.files
        for k in fa.files:
            assert np.array_equal(fa[k], fb[k]), k


def test_published_p113_run_fits_in_2gb(tmp_path):
    code = textwrap.dedent("""
        import resource, torch
        from goaldrift.engine.train import RunConfig, OptimConfig, train
        torch.set_num_threads(1)
        cfg = RunConfig(steps=3, eval_every=2, device="cpu",
                        optim=OptimConfig(lr=1e-3, weight_decay=1.0, warmup_steps=10))
        train(cfg, progress=False)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_kib = int(out.stdout.split()[-1])
    assert peak_kib < 2 * 1024 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_entropy_is_bitwise_torchs(dtype):
    """per_member_loss avoids F.cross_entropy (for CUDA's deterministic mode)
    but must give exactly its values and gradients."""
    from goaldrift.engine.train import per_member_loss

    g = torch.Generator().manual_seed(0)
    x = (5 * torch.randn(3, 200, 48, generator=g, dtype=dtype)).requires_grad_()
    y = torch.randint(0, 48, (200,), generator=g)
    ours = per_member_loss("cross_entropy", x, y)
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    ref = torch.nn.functional.cross_entropy(x.reshape(600, 48), y.repeat(3), reduction="none").view(3, 200).mean(1)
    (g_ref,) = torch.autograd.grad(ref.sum(), x)
    assert torch.equal(ours, ref) and torch.equal(g_ours, g_ref)


def test_a_metric_that_returns_a_view_of_a_weight_records_each_step():
    # The evaluation copies what a metric returns: a view of a parameter must not
    # end up as the final weights in every row.
    def first_weight(model, data, step):
        return {"w00": model.W_0.detach()[:, 0, 0]}

    _, metrics = train(mlp_config(steps=20, eval_every=5), metric_fns={"w00": first_weight})
    assert len(np.unique(metrics["w00"][:, 1])) == len(metrics["w00"])
