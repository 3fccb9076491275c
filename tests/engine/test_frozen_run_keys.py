"""Run keys of existing configurations never change (new RunConfig fields stay out of the
key at their default): hashes computed on main at f99fc2a, before the stopping rule,
observers and the new model kinds were added. The first is the paper-profile grokking
run whose cache folder was named by it (on a GPU, where the key was exactly this
until issue 30).

Since issue 26 a CPU run's key also names the kernels that computed it
(goaldrift.numerics): that part changed every CPU key once, deliberately. The
config part is what these hashes freeze, so they are taken of the key without it.

Since issue 30 every key also holds the digests of the code that computes the run
(runs.code_digests): they change with any edit of that code, deliberately, so they
are left out too. The key holds the source of each metric function, so the
gradient hacker's is the real one, not None: None has no source."""

import hashlib

from goaldrift.engine import runs
from goaldrift.engine.models import GatedGoalConfig
from goaldrift.engine.train import OptimConfig, RunConfig
from goaldrift.experiments.goals.gradient_hacker import _goal_norm
from goaldrift.experiments.grokking import grokking_runs
from goaldrift.experiments.grokking.grokking_measures import weight_snapshot


def config_hash(config, **extras) -> str:
    """The run key's hash without its numerics and code entries: the key as it was before issue 26."""
    key = runs.run_key(config, **extras)
    assert key.pop("numerics", None) is not None or config.device.startswith("cuda")
    assert key.pop("code")["goaldrift.engine.train"]
    return hashlib.sha256(runs.canonical_json(key).encode()).hexdigest()[:16]


def test_grokking_run_keys_are_unchanged():
    paper = grokking_runs.config(113, 0.3, 128, 0.001, 1.0, 18000, [1], 1, warmup_steps=10, eval_every=200,
                                 warmup_rule="published")
    assert config_hash(paper, metric_fns={"weight_snapshot": weight_snapshot}) == "24065b623720cfa6"
    plain = grokking_runs.config(97, 0.3, 64, 0.001, [0.5, 1.0], 3000, [0, 1], 0)
    assert config_hash(plain) == "552e3314161e4f63"


def test_gradient_hacker_run_key_is_unchanged():
    hacker = RunConfig(task={"name": "teacher_outputs", "n_samples": 256, "d_in": 8},
                       model=GatedGoalConfig(goal_dim=16, kappa=1.0),
                       optim=OptimConfig(kind="sgd", lr=0.1, weight_decay=[0.01, 0.1]), steps=500, seeds=[0, 0],
                       data_seed=0, loss="half_mse", eval_every=1, dtype="float64", device="cpu")
    assert config_hash(hacker, metric_fns={"goal_norm": _goal_norm}) == "aba0d97de2204c12"
