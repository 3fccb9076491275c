"""Golden bits: one short run of each model family the chapters train, whose final
weights must hash to the digests committed in golden_bits.json.

This is the test that the portable numerics (goaldrift.numerics) do what they
say: the digests were computed on one machine, and CI, the next session and a
reader's regeneration run on others. A mismatch names the numerics the run
computed with; a different CPU with the kernels pinned is exactly what must not
change them.

The digests are kept per CPU vendor. Measured (2026-12-03 and 04): with the
kernels pinned, an AMD EPYC gives other bits than an Intel Xeon for every
family, and the same AMD bits under every MKL_CBWR branch but COMPATIBLE; so
the promise is "the same bits on every CPU of a vendor", and this test checks
the vendor it runs on against digests computed on another machine of that
vendor. A vendor with no digests yet is skipped, saying so. The digests change
only with a deliberate change to the engine: regenerate this vendor's with

    .venv/bin/python tests/engine/test_golden_bits.py --update

and say why in the commit message (the other vendor's then need a machine of it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden_bits.json")


def golden_configs() -> dict:
    """name -> RunConfig: short, but long enough that every kernel of the family ran."""
    from goaldrift.engine.models import GatedGoalConfig, LNMLPConfig, MLPConfig, StoreMLPConfig, TransformerConfig
    from goaldrift.engine.train import OptimConfig, RunConfig

    proxy = {"name": "proxy", "phase": 1, "n_train": 256, "n_test": 64, "labels": False, "n_bits": 12, "k": 2}
    adamw = OptimConfig(kind="adamw", lr=0.01, weight_decay=0.5)
    common = dict(seeds=[0, 1], eval_every=10, checkpoint_every=None, device="cpu")
    return {
        # the published grokking shape (p=113, 30% train, AdamW 1e-3, lambda=1)
        "transformer_p113": RunConfig(task={"name": "modular_addition", "p": 113, "train_frac": 0.3},
                                      model=TransformerConfig(), steps=30, seeds=[0], eval_every=10,
                                      checkpoint_every=None, device="cpu",
                                      optim=OptimConfig(lr=1e-3, weight_decay=1.0, warmup_steps=10,
                                                        warmup_rule="published")),
        "mlp_proxy": RunConfig(task=proxy, model=MLPConfig(d_in=12, d_hidden=64, d_out=1), optim=adamw,
                               steps=60, loss="mse", **common),
        "ln_mlp_proxy": RunConfig(task=proxy, model=LNMLPConfig(d_in=12, d_hidden=64, d_out=1), optim=adamw,
                                  steps=60, loss="mse", **common),
        "store_mlp_proxy": RunConfig(task=proxy, model=StoreMLPConfig(d_in=12, d_hidden=64, d_out=1,
                                                                      store_bits=[1, 2], read_init=0.5),
                                     optim=adamw, steps=60, loss="mse", **common),
        "gated_teacher": RunConfig(task={"name": "teacher_outputs", "n_samples": 256, "d_in": 8},
                                   model=GatedGoalConfig(goal_dim=16, kappa=1.0),
                                   optim=OptimConfig(kind="sgd", lr=0.1, weight_decay=0.1), steps=60,
                                   loss="half_mse", dtype="float64", **common),
    }


def digests() -> dict[str, str]:
    """Each golden run trained from scratch (no run cache), its final weights hashed."""
    from goaldrift.engine.runs import tensor_digest
    from goaldrift.engine.train import Trainer

    return {name: tensor_digest(Trainer(cfg).run().model)[:20] for name, cfg in golden_configs().items()}


def _numerics() -> dict:
    from goaldrift import numerics

    return numerics.describe()


@pytest.mark.slow
def test_every_family_reproduces_its_golden_bits():
    # a fresh process: what a user gets from `import goaldrift` first, whatever this
    # test process computed before
    out = subprocess.run([sys.executable, __file__, "--print"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    vendor = got["numerics"]["cpu_vendor"]
    per_vendor = json.loads(GOLDEN.read_text())["vendors"]
    if vendor not in per_vendor:
        pytest.skip(f"no golden bits for {vendor} CPUs yet (have {', '.join(sorted(per_vendor))}): "
                    f"compute them with --update on such a machine")
    golden = per_vendor[vendor]
    differ = sorted(name for name in golden["digests"] if got["digests"].get(name) != golden["digests"][name])
    assert not differ, (
        f"weights differ from the golden bits for {', '.join(differ)}: this run computed with "
        f"{got['numerics']}; the golden bits came from {golden['numerics']}")
    assert set(got["digests"]) == set(golden["digests"])


def main(argv: list[str]) -> int:
    import goaldrift  # noqa: F401  (pins the kernels before torch computes)

    result = {"digests": digests(), "numerics": {k: v for k, v in _numerics().items() if k != "mkl_version"}}
    if "--update" in argv:
        if not result["numerics"]["pinned"]:
            print("refused: golden bits are computed with the kernels pinned (GOALDRIFT_NUMERICS=portable)",
                  file=sys.stderr)
            return 2
        per_vendor = json.loads(GOLDEN.read_text())["vendors"] if GOLDEN.exists() else {}
        per_vendor[result["numerics"]["cpu_vendor"]] = result
        GOLDEN.write_text(json.dumps({"vendors": dict(sorted(per_vendor.items()))}, indent=1) + "\n")
        print(f"wrote the {result['numerics']['cpu_vendor']} digests into {GOLDEN}")
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
