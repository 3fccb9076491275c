"""What a sweep measured: one row per grid point, printed, written as CSV, and plotted.

A sweep trains ensembles (several members per run folder, each with its own
learning rate, weight decay and seed), so a row is a member: the settings
that vary across the sweep, the final value of each evaluated metric, and
whether the run was trained now or reused from the cache.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from goaldrift.paths import BUILD_DIR

SWEEPS_DIR = BUILD_DIR / "sweeps"
PLOT_METRICS = ("test_acc", "test_loss", "train_loss", "train_acc")  # the first one a run has is plotted


def _per_member(value, j: int):
    return value[j] if isinstance(value, (list, tuple)) else value


def _settings(config: dict, prefix: str = "") -> dict:
    """A run's configuration as {"optim.kind": .., "task.p": ..}: its scalar settings, nested keys dotted."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_settings(value, f"{prefix}{key}."))
        elif not isinstance(value, (list, tuple)):
            out[f"{prefix}{key}"] = value
    return out


def sweep_rows(configs, paths: list[Path], status: dict[str, str] | None = None) -> tuple[list[str], list[dict]]:
    """(columns, rows) for the finished runs of a sweep: the settings that vary, then each member's
    final metrics and the run's status ("trained" or "reused", from the run log; else "finished")."""
    import numpy as np

    rows = []
    for config, path in zip(configs, paths):
        metrics = np.load(Path(path) / "metrics.npz")
        evals = len(metrics["step"]) if "step" in metrics else None
        run_level = _settings(config.to_dict())
        for j, seed in enumerate(config.seeds):
            row = {k: v for k, v in run_level.items() if k not in ("optim.lr", "optim.weight_decay")}
            row.update(lr=_per_member(config.optim.lr, j), weight_decay=_per_member(config.optim.weight_decay, j),
                       seed=seed)
            for name in metrics.files:
                series = metrics[name]
                if name != "step" and series.ndim == 2 and series.shape[0] == evals and series.shape[1] > j:
                    row[f"final {name}"] = float(series[-1, j])
            row["run"] = Path(path).name
            row["member"] = j
            row["status"] = (status or {}).get(Path(path).name, "finished")
            rows.append(row)
    settings = [k for k in rows[0] if not k.startswith("final ") and k not in ("run", "member", "status")] \
        if rows else []
    varying = [k for k in settings if len({repr(r.get(k)) for r in rows}) > 1]
    finals = sorted({k for r in rows for k in r if k.startswith("final ")})
    return varying + finals + ["status", "run", "member"], rows


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def table_text(columns: list[str], rows: list[dict]) -> str:
    """The table as aligned plain text, for the terminal."""
    cells = [[_cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_report(name: str, columns: list[str], rows: list[dict], folder: Path | None = None) -> Path:
    """sweep.csv and sweep.png (final metric against the first varying setting) in ``folder``
    (default _build/sweeps/NAME); returns the folder."""
    folder = folder or SWEEPS_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(folder / "sweep.csv", buf.getvalue().encode())
    _atomic_write(folder / "sweep.png", _plot(name, columns, rows))
    return folder


def _plot(name: str, columns: list[str], rows: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = [c for c in columns if not c.startswith("final ") and c not in ("status", "run", "member")
               and all(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in rows)]
    x_name = next((c for c in numeric if c != "seed"), numeric[0] if numeric else None)
    y_name = next((f"final {m}" for m in PLOT_METRICS if f"final {m}" in columns),
                  next((c for c in columns if c.startswith("final ")), None))
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    if x_name and y_name:
        xs = [r[x_name] for r in rows]
        ax.plot(xs, [r.get(y_name, float("nan")) for r in rows], "o", alpha=0.7)
        if min(xs) > 0 and max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(x_name)
        ax.set_ylabel(y_name)
    else:
        ax.text(0.5, 0.5, "nothing varies, or no metric was evaluated", ha="center", va="center")
    ax.set_title(f"{name}: {len(rows)} grid point(s)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
