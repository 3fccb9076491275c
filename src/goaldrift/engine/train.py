"""The training loop: one configuration in, weights and metric curves out.

A run is fully described by a ``RunConfig`` (plain dataclasses, JSON
round-trippable), so that ``goaldrift.engine.runs`` can cache it by hash and resume
it after a crash. The loop itself is deliberately small: a step is one
forward of the fast path on the training batch, one backward, one optimiser
step. Everything the chapters plot is measured every ``eval_every`` steps
under ``torch.no_grad`` (never the test set with gradients each step, which
is what made the published trainer slow).

Losses are per member and summed, so that member k's gradient is exactly
the gradient of its own loss. Metrics are evaluated in float64 cross-entropy
(the published "high precision" loss was float32 in practice).

Three optional pieces serve the experiments that follow one run closely: a
``StopRule`` (stop once every partial derivative is below a tolerance,
checked every few steps), step observers (functions that see the weights
before and after every step and the gradient, and record what they return
per step), and stream tasks (data with a ``stream_batch(step)`` method: a
fresh batch every step instead of rows of a fixed training set).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from goaldrift.engine.device import call_with_flushed_denormals, make_cuda_deterministic, pick_device
from goaldrift.engine.models import MODEL_KINDS, build_model, model_kind
from goaldrift.engine.models.mlp import MLPConfig
from goaldrift.engine.models.transformer import TransformerConfig
from goaldrift.engine.optim import GROUPS, KINDS, WARMUP_RULES, EnsembleOptimizer
from goaldrift.engine.tasks import TASKS


class ConfigError(ValueError):
    """A run configuration that cannot be trained; raised before any work."""


# ---- configuration --------------------------------------------------------

@dataclass
class OptimConfig:
    """Optimiser spec; ``lr`` and ``weight_decay`` may be one value per member.

    ``groups`` maps fnmatch patterns of parameter names to "frozen",
    "exempt" or "decayed" (e.g. ``{"b_*": "exempt"}``). ``warmup_rule`` is
    "one_step_ahead" (lr min(1, (t+1)/w) at step t) or "published" (min(1,
    t/w): the published trainer's schedule, first step at lr 0); see
    ``goaldrift.engine.optim``.
    """

    kind: str = "adamw"
    lr: float | list[float] = 1e-3
    weight_decay: float | list[float] = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    momentum: float = 0.0
    warmup_steps: int = 0
    groups: dict[str, str] = field(default_factory=dict)
    warmup_rule: str = "one_step_ahead"


@dataclass
class StopRule:
    """Stop training once every partial derivative of loss + λ/2 ||θ||² (every member's)
    is below ``grad_tol``; tested every ``check_every`` steps, and at ``RunConfig.steps``
    (the cap), never before ``min_steps``, and at once if the gradient is not finite
    (a diverging run). The test sees the gradient at the current weights, before the
    step: a run that stops at step t took t steps."""

    grad_tol: float
    check_every: int = 25
    min_steps: int = 0


@dataclass
class RunConfig:
    """Everything that determines a run's numbers.

    ``seeds`` holds one model-init seed per ensemble member (K = len(seeds));
    ``data_seed`` fixes the train/test split, ``batch_seed`` the minibatch
    order (``batch_size=None`` is full batch). ``task`` is a dict with a
    registered ``name`` and that task's keyword arguments. ``metrics`` names
    registered metric functions evaluated with the built-in ones.
    """

    task: dict = field(default_factory=lambda: {"name": "modular_addition", "p": 113, "train_frac": 0.3})
    model: TransformerConfig | MLPConfig = field(default_factory=TransformerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 1000
    seeds: list[int] = field(default_factory=lambda: [0])
    data_seed: int = 0
    batch_size: int | None = None
    batch_seed: int = 0
    loss: str = "cross_entropy"
    eval_every: int = 100
    checkpoint_every: int | None = 1000
    metrics: list[str] = field(default_factory=list)
    dtype: str = "float32"
    device: str = "auto"
    stop: StopRule | None = None

    @property
    def K(self) -> int:
        return len(self.seeds)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = {"kind": model_kind(self.model), **dataclasses.asdict(self.model)}
        if d["optim"]["warmup_rule"] == "one_step_ahead":
            # the rule from before warmup_rule existed: left out, so that the
            # run-cache keys of existing runs stay what they were
            del d["optim"]["warmup_rule"]
        if d["stop"] is None:
            del d["stop"]  # the same for runs without a stopping rule
        return _jsonable(d)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        m = dict(d["model"])
        cfg_cls = MODEL_KINDS[m.pop("kind")][0]
        d["model"] = cfg_cls(**m)
        o = dict(d["optim"])
        o["betas"] = tuple(o["betas"])
        d["optim"] = OptimConfig(**o)
        if d.get("stop") is not None:
            d["stop"] = StopRule(**d["stop"])
        return cls(**d)

    def validate(self) -> None:
        """Raise ``ConfigError`` with a one-line reason, or return."""
        try:
            _validate(self)
        except ConfigError:
            raise
        except (ValueError, TypeError, KeyError) as e:
            raise ConfigError(str(e).splitlines()[0]) from None


def _jsonable(x):
    """Tuples become lists so that a config equals its JSON round trip."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


LOSSES = ("cross_entropy", "mse", "half_mse", "half_sse")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _need(ok: bool, msg: str) -> None:
    if not ok:
        raise ConfigError(msg)


def _task_kwargs(config: RunConfig) -> dict:
    """The task's arguments: everything in ``config.task`` but its name."""
    return {k: v for k, v in config.task.items() if k != "name"}


# The per-step loss record is [steps, members]: beyond this many entries (2 GiB
# in float64) a run is refused up front rather than failing in the allocator.
MAX_STEP_RECORDS = 2**28


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is not a step count


# Seeds reach torch.manual_seed, which takes at most 2**64 - 1 (beyond it fails inside the
# run with "Overflow when unpacking long long"), and numpy's default_rng, which takes
# nothing below 0: a seed is an int in [0, 2**63), safe for both.
SEED_LIMIT = 2**63
SEED_RANGE_TEXT = "in [0, 2**63) (torch.manual_seed takes at most 2**64 - 1, numpy's default_rng nothing below 0)"


def valid_seed(v) -> bool:
    return _int(v) and 0 <= v < SEED_LIMIT


def _validate(c: RunConfig) -> None:
    need = _need
    need(_int(c.steps) and c.steps > 0, f"steps must be a positive int, got {c.steps!r}")
    need(_int(c.eval_every) and c.eval_every > 0, f"eval_every must be a positive int, got {c.eval_every!r}")
    need(c.checkpoint_every is None or (_int(c.checkpoint_every) and c.checkpoint_every > 0),
         f"checkpoint_every must be None or a positive int, got {c.checkpoint_every!r}")
    need(isinstance(c.seeds, (list, tuple)) and len(c.seeds) > 0,
         "seeds must list at least one model-init seed (one per member)")
    need(all(_int(s) for s in c.seeds), f"seeds must be ints, got {c.seeds!r:.80}")
    out_of_range = [s for s in c.seeds if not valid_seed(s)]
    need(not out_of_range, f"seeds must be ints {SEED_RANGE_TEXT}, got {out_of_range[:1]}")
    need(valid_seed(c.data_seed), f"data_seed must be an int {SEED_RANGE_TEXT}, got {c.data_seed!r:.80}")
    need(c.steps * len(c.seeds) <= MAX_STEP_RECORDS,
         f"steps x members = {c.steps * len(c.seeds):,} exceeds the {MAX_STEP_RECORDS:,} "
         f"the per-step loss record can hold; use fewer steps or members per run")
    need(c.batch_size is None or (_int(c.batch_size) and c.batch_size > 0),
         f"batch_size must be None (full batch) or a positive int, got {c.batch_size!r}")
    need(c.loss in LOSSES, f"unknown loss {c.loss!r}; use one of {LOSSES}")
    need(c.dtype in DTYPES, f"unknown dtype {c.dtype!r}; use one of {tuple(DTYPES)}")
    need(c.device in ("auto", "cpu") or str(c.device).startswith("cuda"),
         f"unknown device {c.device!r}; use 'auto', 'cpu' or 'cuda'")
    need(isinstance(c.task, dict) and c.task.get("name") in TASKS,
         f"unknown task {c.task.get('name') if isinstance(c.task, dict) else c.task!r}; registered: {sorted(TASKS)}")
    try:
        inspect.signature(TASKS[c.task["name"]]).bind(0, **_task_kwargs(c))
    except TypeError as e:
        raise ConfigError(f"task {c.task['name']!r}: {e}") from None
    for m in c.metrics:
        need(m in METRICS, f"unknown metric {m!r}; registered: {sorted(METRICS)}")
    o = c.optim
    need(o.kind in KINDS, f"unknown optimiser kind {o.kind!r}; use one of {KINDS}")
    for what, value in (("lr", o.lr), ("weight_decay", o.weight_decay)):
        vals = value if isinstance(value, (list, tuple)) else [value]
        need(all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals),
             f"optim.{what} must be finite numbers, got {value!r}")
        need(len(vals) in (1, c.K), f"optim.{what} has {len(vals)} values for {c.K} members")
        if what == "lr":
            need(all(v > 0 for v in vals), f"optim.lr must be > 0, got {value!r}")
        else:
            need(all(v >= 0 for v in vals), f"optim.weight_decay must be >= 0, got {value!r}")
    need(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), f"optim.betas must be two numbers in [0, 1), got {o.betas!r}")
    need(o.eps > 0, f"optim.eps must be > 0, got {o.eps!r}")
    need(0 <= o.momentum < 1, f"optim.momentum must be in [0, 1), got {o.momentum!r}")
    need(_int(o.warmup_steps) and o.warmup_steps >= 0, f"optim.warmup_steps must be an int >= 0, got {o.warmup_steps!r}")
    need(o.warmup_rule in WARMUP_RULES, f"unknown optim.warmup_rule {o.warmup_rule!r}; use one of {WARMUP_RULES}")
    need(isinstance(o.groups, dict), f"optim.groups must be an object of pattern: group, got {o.groups!r:.80}")
    for pattern, g in o.groups.items():
        need(g in GROUPS, f"optim.groups[{pattern!r}] = {g!r}; use one of {GROUPS}")
    if c.stop is not None:
        r = c.stop
        need(isinstance(r, StopRule), f"stop must be a StopRule or None, got {type(r).__name__}")
        need(isinstance(r.grad_tol, (int, float)) and not isinstance(r.grad_tol, bool) and math.isfinite(r.grad_tol)
             and r.grad_tol >= 0, f"stop.grad_tol must be a finite number >= 0, got {r.grad_tol!r}")
        need(_int(r.check_every) and r.check_every > 0, f"stop.check_every must be a positive int, got {r.check_every!r}")
        need(_int(r.min_steps) and r.min_steps >= 0, f"stop.min_steps must be an int >= 0, got {r.min_steps!r}")
    try:
        c.model.validate()
    except ValueError as e:
        raise ConfigError(str(e)) from None


# ---- registry of metrics (tasks register in goaldrift.engine.tasks) ---------

METRICS: dict[str, Callable] = {}


def register_metric(name: str):
    """Register ``fn(model, data, step) -> {key: tensor [K, ...]}``.

    It is called under ``torch.no_grad`` at every evaluation; each key
    becomes a metrics array ``[n_evals, K, ...]``. Use it for progress
    measures that chapters plot over training.
    """
    def deco(fn):
        METRICS[name] = fn
        return fn
    return deco


def make_data(config: RunConfig):
    """The registered task's data; a task that rejects its arguments is a
    ``ConfigError`` naming the task."""
    try:
        return TASKS[config.task["name"]](config.data_seed, **_task_kwargs(config))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"task {config.task['name']!r}: {str(e).splitlines()[0]}") from None


def check_data(config: RunConfig, data) -> None:
    """Raise ``ConfigError`` if ``data`` cannot train ``config``'s model: an
    empty or too-small training set, token ids or labels outside the model's
    vocabulary, inputs of the wrong width. Cheap; runs before any training."""
    need = _need
    n = data.train_x.shape[0]
    if is_stream(data):
        need(config.batch_size is None, "a stream task draws its own batches; leave batch_size None")
    else:
        need(n > 0, "the task produced an empty training set")
    need(config.batch_size is None or config.batch_size <= n,
         f"batch_size {config.batch_size} exceeds the {n} training examples")
    labels = not data.train_y.is_floating_point()
    need(config.loss != "cross_entropy" or labels,
         "cross_entropy needs integer class labels; use loss='mse' for float targets")
    m = config.model
    n_in, n_out = (m.d_vocab, m.d_vocab_out) if isinstance(m, TransformerConfig) else (m.d_in, m.d_out)
    for x, y in ((data.train_x, data.train_y), (data.test_x, data.test_y)):
        if not x.numel():
            continue
        if isinstance(m, TransformerConfig):
            need(not x.is_floating_point() and x.dim() == 2 and x.shape[1] <= m.n_ctx,
                 f"the transformer needs token ids [N, <= n_ctx={m.n_ctx}], got {x.dtype} {tuple(x.shape)}")
            need(int(x.min()) >= 0 and int(x.max()) < n_in,
                 f"token ids run to {int(x.max())} but model.d_vocab is {n_in}")
            need(not m.fast or bool((x[:, -1] == x[0, -1]).all()),
                 "the fast transformer path needs the same last token in every row")
        else:
            need(x.dim() == 2 and x.shape[1] == n_in, f"inputs have width {tuple(x.shape)[1:]} but model.d_in is {n_in}")
        if labels and y.numel():
            need(int(y.min()) >= 0 and int(y.max()) < n_out,
                 f"labels run to {int(y.max())} but the model has {n_out} outputs")


# ---- losses and accuracy ----------------------------------------------------

def per_member_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each member, ``[K]``.

    cross_entropy: ``y`` int labels. mse: mean over samples and outputs of
    (out − target)², the target being one-hot for int labels. half_mse: half
    of it, the convention of the derivations whose gradient is out − target.
    half_sse: half the sum (not the mean) of the squared errors, for networks
    fitted to fixed numbers (the objective 1/2 ||f − c||²).
    """
    K, N, C = out.shape
    if kind == "cross_entropy":
        # log_softmax + gather rather than F.cross_entropy: the same bits on
        # CPU (tested), and on CUDA it avoids nll_loss, which PyTorch's
        # deterministic mode may refuse there.
        picked = out.log_softmax(-1).gather(-1, y.view(1, N, 1).expand(K, N, 1))
        return -picked.squeeze(-1).mean(1)
    target = _regression_target(y, C, out.dtype)
    if kind == "half_mse":
        return 0.5 * (out - target).square().mean(dim=(1, 2))
    if kind == "half_sse":
        return 0.5 * (out - target).square().sum(dim=(1, 2))
    return (out - target).square().mean(dim=(1, 2))


def _regression_target(y, C, dtype):
    if y.dtype in (torch.int64, torch.int32):
        return F.one_hot(y, C).to(dtype)
    return y.to(dtype).reshape(y.shape[0], -1)


def accuracy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction correct per member: argmax for classes, sign for a scalar target."""
    if y.dtype in (torch.int64, torch.int32):
        return (out.argmax(-1) == y).to(torch.float64).mean(1)
    target = y.reshape(y.shape[0], -1).to(out.dtype)
    if out.shape[-1] == 1:
        return ((out[..., 0] > 0) == (target[:, 0] > 0)).to(torch.float64).mean(1)
    return (out.argmax(-1) == target.argmax(-1)).to(torch.float64).mean(1)


# ---- the loop ---------------------------------------------------------------

@dataclass
class TrainState:
    """Everything needed to continue a run bit for bit."""

    step: int
    model: dict
    optimizer: dict
    metrics: dict[str, list]
    step_loss: torch.Tensor
    rng: dict
    config: dict


@dataclass
class StepView:
    """What a step observer sees of step ``step``: copies of the weights ``before`` it, the
    loss gradient ``grad`` at them (without the decay term), the weights ``after`` it
    (live tensors: copy what you keep), the members' losses [K] and the task's data."""

    step: int
    before: dict[str, torch.Tensor]
    grad: dict[str, torch.Tensor]
    after: dict[str, torch.Tensor]
    loss: torch.Tensor
    data: Any


def is_stream(data) -> bool:
    """Whether ``data`` hands out a fresh batch per step (``stream_batch(step)``)."""
    return callable(getattr(data, "stream_batch", None))


def weight_norm_sq(model) -> torch.Tensor:
    """Total squared weight norm per member, ``[K]``: what weight decay shrinks."""
    return sum(p.detach().to(torch.float64).square().flatten(1).sum(1) for p in model.parameters())


class Trainer:
    """Builds model, optimiser and data from a config and runs the loop.

    ``init_state`` overrides the seeded initial weights (phase-2 training
    continues a phase-1 network); ``masks = {"frozen": {...}, "exempt":
    {...}}`` are the optimiser's element-wise masks; ``data`` overrides the
    registered task. ``observers = {name: fn}``: after every step, ``fn(StepView)``
    returns ``{key: tensor [K, ...]}`` (or nothing), recorded per step in the metrics
    (key -> ``[steps, K, ...]``; keys other than the evaluation's and the stopping rule's).
    """

    def __init__(self, config: RunConfig, *, data=None, init_state=None, masks=None,
                 metric_fns: dict | None = None, observers: dict | None = None):
        config.validate()
        self.config = config
        try:
            self.device = pick_device(config.device)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.device.type == "cuda":
            make_cuda_deterministic()
        self.dtype = DTYPES[config.dtype]
        self.data = data if data is not None else make_data(config)
        check_data(config, self.data)
        self.model = build_model(config.model, config.seeds, dtype=self.dtype, device=self.device)
        if init_state is not None:
            self.model.load_state_dict({k: v.to(self.dtype) for k, v in init_state.items()})
        o = config.optim
        masks = masks or {}
        self.optimizer = EnsembleOptimizer(
            self.model, kind=o.kind, lr=o.lr, weight_decay=o.weight_decay, betas=o.betas,
            eps=o.eps, momentum=o.momentum, warmup_steps=o.warmup_steps, warmup_rule=o.warmup_rule, groups=o.groups,
            frozen_masks=masks.get("frozen"), exempt_masks=masks.get("exempt"))
        self.float_mode: dict | None = None  # set by run(): how subnormal floats were handled
        self.metric_fns = {name: METRICS[name] for name in config.metrics}
        self.metric_fns.update(metric_fns or {})
        self.observers = dict(observers or {})
        self.train_x, self.train_y = self._to(self.data.train_x), self._to(self.data.train_y)
        self.test_x, self.test_y = self._to(self.data.test_x), self._to(self.data.test_y)

    def _to(self, t: torch.Tensor) -> torch.Tensor:
        """Data on the run's device; float data (inputs, targets) in its dtype."""
        if t.is_floating_point():
            return t.to(self.device, self.dtype)
        return t.to(self.device)

    # -- batches: stateless in the step, so a resumed run sees the same ones --

    def batch_indices(self, step: int) -> torch.Tensor | None:
        """Minibatch rows for ``step``: epoch e is a fresh permutation seeded
        by (batch_seed, e), the last incomplete batch dropped."""
        B = self.config.batch_size
        if B is None:
            return None
        n = self.train_x.shape[0]
        per_epoch = n // B
        epoch, i = divmod(step, per_epoch)
        if getattr(self, "_perm_epoch", None) != epoch:
            seed = int.from_bytes(hashlib.sha256(f"{self.config.batch_seed}/{epoch}".encode()).digest()[:8], "little")
            self._perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(self.device)
            self._perm_epoch = epoch
        return self._perm[i * B:(i + 1) * B]

    # -- evaluation ---------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, np.ndarray]:
        m = {"step": np.array(step)}
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.shape[0] == 0:
                continue
            out = self._predict_chunked(x).to(torch.float64)
            m[f"{split}_loss"] = per_member_loss(self.config.loss, out, y).cpu().numpy()
            m[f"{split}_acc"] = accuracy(out, y).cpu().numpy()
        m["weight_norm_sq"] = weight_norm_sq(self.model).cpu().numpy()
        for name, fn in self.metric_fns.items():
            for key, value in fn(self.model, self.data, step).items():
                # a copy: a metric may return a view of a parameter that the next step changes
                m[key] = torch.as_tensor(value).detach().cpu().numpy().copy()
        return m

    def _predict_chunked(self, x):
        rows = max(1024, 65536 // self.model.K)
        return torch.cat([self.model.predict(x[i:i + rows]) for i in range(0, x.shape[0], rows)], dim=1)

    # -- the loop -----------------------------------------------------------

    def run(self, state: TrainState | None = None, on_checkpoint: Callable[[TrainState], None] | None = None,
            progress: bool | None = None) -> TrainState:
        """Train from ``state`` (or from the start) to ``config.steps``.

        On CPU the loop runs in a fresh thread with flush-to-zero set, in it
        and in all its intra-op workers (see ``goaldrift.engine.device``): without
        it, subnormal floats made late steps ~4x slower. ``self.float_mode``
        records how the run's floats were handled, for its provenance.
        """
        if self.device.type != "cpu":
            self.float_mode = {"flush_denormals": False, "how": f"not set on {self.device.type}"}
            return self._run(state, on_checkpoint, progress)
        final, self.float_mode = call_with_flushed_denormals(self._run, state, on_checkpoint, progress)
        return final

    def _run(self, state, on_checkpoint, progress, stop=None) -> TrainState:
        c = self.config
        if state is not None:
            self.model.load_state_dict(state.model)
            self.optimizer.load_state_dict(state.optimizer)
            _set_rng(state.rng)
            metrics, step_loss, start = state.metrics, state.step_loss.to(self.device), state.step
        else:
            metrics, start = {}, 0
            step_loss = torch.zeros(c.steps, self.model.K, dtype=self.dtype, device=self.device)
        if progress is None:
            progress = c.steps - start >= 2000
        bar = None
        if progress:
            from tqdm import tqdm  # plain text bar: no widget dependency in notebooks
            bar = tqdm(total=c.steps, initial=start, desc=f"train K={self.model.K}", unit="step",
                       mininterval=1.0, smoothing=0.05)
        end = c.steps
        for step in range(start, c.steps):
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            if step % c.eval_every == 0:
                _append(metrics, self.evaluate(step))
            losses = self.train_step(step, records=metrics)
            if losses is None:  # the stopping rule ended the run before this step
                end = step
                break
            step_loss[step] = losses
            if bar is not None:
                bar.update(1)
            done = step + 1
            if on_checkpoint and c.checkpoint_every and done % c.checkpoint_every == 0 and done < c.steps:
                on_checkpoint(self.snapshot(done, metrics, step_loss))
        else:
            if c.stop is not None:  # at the cap: the last test, at the final weights
                self._backward(c.steps)
                self._test_gradient(c.steps, metrics)
                self.optimizer.zero_grad()
        if bar is not None:
            bar.close()
        if not metrics or metrics["step"][-1] != end:
            _append(metrics, self.evaluate(end))
        return self.snapshot(end, metrics, step_loss[:end])

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of step ``step``: the stream's batch, a minibatch, or everything."""
        if is_stream(self.data):
            x, y = self.data.stream_batch(step)
            return self._to(x), self._to(y)
        idx = self.batch_indices(step)
        return (self.train_x, self.train_y) if idx is None else (self.train_x[idx], self.train_y[idx])

    def _backward(self, step: int) -> torch.Tensor:
        x, y = self.batch(step)
        losses = per_member_loss(self.config.loss, self.model.predict(x), y)
        losses.sum().backward()
        return losses

    def _test_gradient(self, step: int, records: dict | None) -> bool:
        """The stopping rule's test at ``step`` (gradients computed); True: stop here."""
        rule = self.config.stop
        worst = self.optimizer.objective_grad_max()
        if records is not None:
            _append(records, {"grad_check_step": np.array(step), "grad_max": worst.cpu().numpy()})
        top = float(worst.max())
        return (top < rule.grad_tol and step >= rule.min_steps) or step >= self.config.steps or not math.isfinite(top)

    def train_step(self, step: int, records: dict | None = None) -> torch.Tensor | None:
        """One optimiser step on batch ``step``; returns the members' losses [K], or None
        if the stopping rule ends the run before it. Observers' records and the stopping
        rule's tests are appended to ``records`` when given."""
        losses = self._backward(step)
        rule = self.config.stop
        if rule is not None and step % rule.check_every == 0 and self._test_gradient(step, records):
            self.optimizer.zero_grad()
            return None
        if not self.observers:
            self.optimizer.step()
            self.optimizer.zero_grad()
            return losses.detach()
        params = dict(self.model.named_parameters())
        before = {n: p.detach().clone() for n, p in params.items()}
        self.optimizer.step()
        view = StepView(step, before, {n: p.grad for n, p in params.items()},
                        {n: p.detach() for n, p in params.items()}, losses.detach(), self.data)
        for fn in self.observers.values():
            with torch.no_grad():
                out = fn(view)
            if out and records is not None:
                _append(records, {k: torch.as_tensor(v).detach().cpu().numpy().copy() for k, v in out.items()})
        self.optimizer.zero_grad()
        return losses.detach()

    def snapshot(self, step, metrics, step_loss) -> TrainState:
        return TrainState(
            step=step,
            model={k: v.detach().clone() for k, v in self.model.state_dict().items()},
            optimizer=self.optimizer.state_dict(),
            metrics={k: list(v) for k, v in metrics.items()},
            step_loss=step_loss.detach().clone(),
            rng=_get_rng(),
            config=self.config.to_dict(),
        )


def _append(metrics: dict, row: dict) -> None:
    for k, v in row.items():
        metrics.setdefault(k, []).append(np.asarray(v))


def stack_metrics(state: TrainState) -> dict[str, np.ndarray]:
    """Metric lists → arrays ``[n_evals, K, ...]``, plus ``step_loss [steps, K]``."""
    out = {k: np.stack(v) for k, v in state.metrics.items()}
    out["step_loss"] = state.step_loss.cpu().numpy()
    return out


def _get_rng() -> dict:
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _set_rng(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def train(config: RunConfig, **kwargs) -> tuple[Any, dict[str, np.ndarray]]:
    """Train without the cache: returns (model, metrics); ``metrics["step"][-1]`` is the
    number of steps taken (fewer than ``config.steps`` if a stopping rule ended the run).
    See ``runs.run`` for the cached, checkpointed version chapters should use."""
    progress = kwargs.pop("progress", None)
    trainer = Trainer(config, **kwargs)
    state = trainer.run(progress=progress)
    return trainer.model, stack_metrics(state)
