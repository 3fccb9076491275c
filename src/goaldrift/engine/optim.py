"""AdamW, Adam+L2 and SGD over an ensemble, with per-member η and λ.

The book's claims hinge on exactly how weight decay enters the update, so
each kind follows PyTorch's arithmetic to the letter (a single member matches
``torch.optim`` to float64 round-off):

* ``adamw``:   θ ← θ(1 − ηλ), then the Adam step (decoupled decay);
* ``adam_l2``: g ← g + λθ, then the Adam step (coupled L2);
* ``sgd``:     g ← g + λθ; with momentum μ, b ← μb + g (b₁ = g); θ ← θ − ηb.
* ``sgd_torch``: the same update in ``torch.optim.SGD``'s own arithmetic,
  one member at a time: ``g.add(θ, alpha=λ)`` and ``θ.add_(b, alpha=-η)``
  are fused multiply-adds on the CPU, so its bits differ from ``sgd``'s at
  round-off and equal torch's (the factorised networks' chapter was
  measured with torch.optim.SGD). Element-wise masks are not supported.

η is the scheduled rate: base η times an optional linear warm-up over
``warmup`` steps at step t = 0, 1, ..., by one of two rules:

* ``"one_step_ahead"`` (the default): min(1, (t+1)/warmup), so the first
  step already moves the weights at η/warmup;
* ``"published"``: min(1, t/warmup), the published trainer's
  ``LambdaLR(lambda t: min(t/10, 1))``: the first step runs at η = 0 (the
  weights stay put, not even decayed) but still updates Adam's moments.

Masks decide what a weight is in the experiment, per parameter and per
element: "frozen" weights neither move nor decay (goal protection by
freezing), "exempt" weights are trained but never decayed (memory outside
weight decay), everything else is "decayed". Element-wise masks are bool
tensors shaped like the parameter, including the member dimension, so
each member can freeze a different subset.
"""

from __future__ import annotations

import fnmatch
import math

import torch

KINDS = ("adamw", "adam_l2", "sgd", "sgd_torch")
GROUPS = ("frozen", "exempt", "decayed")
WARMUP_RULES = ("one_step_ahead", "published")


def _per_member(value, K: int, what: str) -> torch.Tensor:
    """A float64 [K] vector from a float, a sequence or a tensor."""
    t = torch.as_tensor(value, dtype=torch.float64).detach().cpu().flatten()
    if t.numel() == 1:
        t = t.expand(K)
    if t.numel() != K:
        raise ValueError(f"{what} has {t.numel()} values for an ensemble of {K}")
    return t.clone()


class EnsembleOptimizer:
    """One optimiser for all members of a [K, ...] ensemble.

    named_params: a module or an iterable of (name, parameter); every
    parameter's dim 0 is the member. groups: {fnmatch pattern: "frozen" |
    "exempt" | "decayed"} applied to parameter names (first match wins).
    frozen_masks / exempt_masks: {name: bool tensor shaped like the
    parameter}; True marks frozen / exempt elements.
    """

    def __init__(self, named_params, kind: str = "adamw", lr=1e-3, weight_decay=0.0,
                 betas=(0.9, 0.98), eps: float = 1e-8, momentum: float = 0.0,
                 warmup_steps: int = 0, warmup_rule: str = "one_step_ahead", groups: dict | None = None,
                 frozen_masks: dict | None = None, exempt_masks: dict | None = None):
        if hasattr(named_params, "named_parameters"):
            named_params = named_params.named_parameters()
        self.params = dict(named_params)
        if not self.params:
            raise ValueError("no parameters to optimise")
        if kind not in KINDS:
            raise ValueError(f"unknown optimiser kind {kind!r}; use one of {KINDS}")
        self.kind = kind
        self.K = next(iter(self.params.values())).shape[0]
        self.lr = _per_member(lr, self.K, "lr")
        self.weight_decay = _per_member(weight_decay, self.K, "weight_decay")
        if (self.lr <= 0).any():
            raise ValueError(f"lr must be > 0, got {self.lr.tolist()}")
        if (self.weight_decay < 0).any():
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay.tolist()}")
        self.betas = tuple(float(b) for b in betas)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.warmup_steps = int(warmup_steps)
        if warmup_rule not in WARMUP_RULES:
            raise ValueError(f"unknown warmup_rule {warmup_rule!r}; use one of {WARMUP_RULES}")
        self.warmup_rule = warmup_rule
        self.step_count = 0

        self.group = {}
        for name in self.params:
            g = "decayed"
            for pattern, value in (groups or {}).items():
                if value not in GROUPS:
                    raise ValueError(f"unknown group {value!r} for {pattern!r}; use one of {GROUPS}")
                if fnmatch.fnmatchcase(name, pattern):
                    g = value
                    break
            self.group[name] = g

        # Masks become float multipliers once, so a step costs one multiply.
        self.keep, self.decay_mask = {}, {}
        for masks, what in ((frozen_masks, "frozen"), (exempt_masks, "exempt")):
            for name, m in (masks or {}).items():
                if name not in self.params:
                    raise ValueError(f"{what} mask for unknown parameter {name!r}")
                if tuple(m.shape) != tuple(self.params[name].shape):
                    raise ValueError(f"{what} mask for {name} has shape {tuple(m.shape)}, "
                                     f"parameter has {tuple(self.params[name].shape)}")
        for name, p in self.params.items():
            frozen = (frozen_masks or {}).get(name)
            exempt = (exempt_masks or {}).get(name)
            if frozen is not None:
                frozen = frozen.to(device=p.device, dtype=torch.bool)
                self.keep[name] = (~frozen).to(p.dtype)
            if frozen is not None or exempt is not None:
                no_decay = torch.zeros_like(p, dtype=torch.bool)
                if frozen is not None:
                    no_decay |= frozen
                if exempt is not None:
                    no_decay |= exempt.to(device=p.device, dtype=torch.bool)
                self.decay_mask[name] = (~no_decay).to(p.dtype)

        if kind == "sgd_torch" and (frozen_masks or exempt_masks):
            raise ValueError("element-wise masks need kind 'sgd' (sgd_torch steps whole members)")

        self.state: dict[str, dict[str, torch.Tensor]] = {}
        self._on_device: tuple[torch.Tensor, torch.Tensor] | None = None  # see _coefficients
        self._decays = bool((self.weight_decay != 0).any())

    # ---- the schedule ------------------------------------------------------

    def lr_factor(self, step: int) -> float:
        if self.warmup_steps <= 0:
            return 1.0
        ahead = 1 if self.warmup_rule == "one_step_ahead" else 0
        return min(1.0, (step + ahead) / self.warmup_steps)

    def _coefficients(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-member lr and weight decay on ``device``, copied once."""
        if self._on_device is None or self._on_device[0].device != device:
            self._on_device = (self.lr.to(device), self.weight_decay.to(device))
        return self._on_device

    # ---- the update --------------------------------------------------------

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        # float64 [K] on the parameters' device (like torch's python floats):
        # computed there, a step copies nothing from the host, so a GPU step
        # never waits for the host to sync its stream.
        base_lr, wd = self._coefficients(next(iter(self.params.values())).device)
        lr = base_lr * self.lr_factor(self.step_count)
        self.step_count += 1
        if self.kind == "sgd_torch":
            self._torch_sgd_step(lr.tolist(), wd.tolist())
            return
        t = self.step_count
        b1, b2 = self.betas
        vec_cache: dict = {}

        def vec(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
            """A [K] coefficient shaped to broadcast against p, in p's dtype."""
            key = (id(v), p.dim(), p.dtype, p.device)
            if key not in vec_cache:
                vec_cache[key] = v.to(device=p.device, dtype=p.dtype).view(-1, *([1] * (p.dim() - 1)))
            return vec_cache[key]

        decays = self._decays
        if self.kind != "sgd":
            step_size = lr / (1 - b1 ** t)
            bc2_sqrt = math.sqrt(1 - b2 ** t)
        shrink = 1 - lr * wd
        for name, p in self.params.items():
            if p.grad is None or self.group[name] == "frozen":
                continue
            g = p.grad
            decayed = decays and self.group[name] == "decayed"
            dmask = self.decay_mask.get(name)
            if decayed and self.kind != "adamw":
                coupled = p * vec(wd, p)
                g = g + (coupled * dmask if dmask is not None else coupled)
            if decayed and self.kind == "adamw":
                if dmask is None:
                    p.mul_(vec(shrink, p))
                else:
                    p.sub_(p * vec(lr * wd, p) * dmask)
            st = self.state.setdefault(name, {})
            if self.kind == "sgd":
                if self.momentum != 0:
                    if "momentum_buffer" not in st:
                        st["momentum_buffer"] = g.detach().clone()
                    else:
                        st["momentum_buffer"].mul_(self.momentum).add_(g)
                    g = st["momentum_buffer"]
                update = g * vec(lr, p)
            else:
                if "exp_avg" not in st:
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                m, v = st["exp_avg"], st["exp_avg_sq"]
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = v.sqrt().div_(bc2_sqrt).add_(self.eps)
                # (step_size·m)/denom in this order: the bits of torch's
                # addcdiv(m, denom, value=-step_size), so one member follows
                # torch.optim.AdamW exactly in float32 too
                update = torch.mul(m, vec(step_size, p)).div_(denom)
            keep = self.keep.get(name)
            if keep is not None:
                update = update * keep
            p.sub_(update)

    def _torch_sgd_step(self, lrs: list[float], wds: list[float]) -> None:
        """torch.optim.SGD's single-tensor step (dampening 0, no Nesterov) on each member's
        slice, with its python-float η and λ."""
        for name, p in self.params.items():
            if p.grad is None or self.group[name] == "frozen":
                continue
            decayed = self.group[name] == "decayed"
            st = self.state.setdefault(name, {})
            first = "momentum_buffer" not in st
            if self.momentum != 0 and first:
                st["momentum_buffer"] = torch.zeros_like(p)
            for k in range(self.K):
                g = p.grad[k]
                if decayed and wds[k] != 0:
                    g = g.add(p[k], alpha=wds[k])
                if self.momentum != 0:
                    buf = st["momentum_buffer"][k]
                    if first:
                        buf.copy_(g)
                    else:
                        buf.mul_(self.momentum).add_(g, alpha=1.0)
                    g = buf
                p[k].add_(g, alpha=-lrs[k])

    @torch.no_grad()
    def objective_grad_max(self) -> torch.Tensor:
        """Per member [K], the largest |partial derivative| of loss + λ/2 ||θ||² over the
        weights this optimiser trains: the loss gradient (``p.grad``) plus λθ where decay
        acts. What a gradient-tolerance stopping rule tests; NaN if any entry is NaN."""
        first = next(iter(self.params.values()))
        _, wd = self._coefficients(first.device)
        worst = torch.zeros(self.K, dtype=torch.float64, device=first.device)
        for name, p in self.params.items():
            if p.grad is None or self.group[name] == "frozen":
                continue
            g = p.grad
            if self._decays and self.group[name] == "decayed":
                decay = wd.to(dtype=p.dtype).view(-1, *([1] * (p.dim() - 1))) * p
                dmask = self.decay_mask.get(name)
                g = g + (decay * dmask if dmask is not None else decay)
            keep = self.keep.get(name)
            if keep is not None:
                g = g * keep
            worst = torch.maximum(worst, g.abs().flatten(1).max(1).values.to(torch.float64))
        return worst

    # ---- checkpointing -----------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "kind": self.kind,
            "step_count": self.step_count,
            "lr": self.lr.clone(),
            "weight_decay": self.weight_decay.clone(),
            "state": {n: {k: v.clone() for k, v in s.items()} for n, s in self.state.items()},
        }

    def load_state_dict(self, sd: dict) -> None:
        if sd["kind"] != self.kind:
            raise ValueError(f"optimiser state is for {sd['kind']!r}, this optimiser is {self.kind!r}")
        self.step_count = int(sd["step_count"])
        self.lr = sd["lr"].clone().to(torch.float64)
        self.weight_decay = sd["weight_decay"].clone().to(torch.float64)
        self._on_device = None
        self._decays = bool((self.weight_decay != 0).any())
        self.state = {}
        for name, s in sd["state"].items():
            p = self.params[name]
            self.state[name] = {k: v.to(device=p.device, dtype=p.dtype).clone() for k, v in s.items()}
