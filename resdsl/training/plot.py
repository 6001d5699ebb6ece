"""Training curves: loss, error, and each weighted layer's gradient-to-weight ratio (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from resdsl.training.degradation import smooth
from resdsl.training.loop import History


def plot_history(history: History, path: str | Path, *, format: str | None = None) -> None:
    """Three panels against steps: loss, error (both smoothed over an epoch), and per layer
    ``|grad W| / |W|`` on a log scale, coloured from the first layer (dark) to the last (light).

    Needs matplotlib (``pip install 'resdsl[plot]'``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = history.records
    steps = [r.step for r in records]
    window = max(1, history.examples // history.config.batch_size)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), dpi=110)
    axes[0].plot(steps, smooth([r.loss for r in records], window))
    axes[0].set_ylabel("training loss")
    axes[1].plot(steps, smooth([r.error for r in records], window))
    axes[1].set_ylabel("training error (batch)")
    layers = list(records[0].layers) if records else []
    cmap = plt.get_cmap("viridis")
    for i, name in enumerate(layers):
        colour = cmap(i / max(1, len(layers) - 1))
        ratios = [r.layers[name].ratio for r in records]
        axes[2].plot(
            steps,
            ratios,
            color=colour,
            linewidth=0.8,
            label=name if i in (0, len(layers) - 1) else None,
        )
    axes[2].set_yscale("log")
    axes[2].set_ylabel("|grad W| / |W| per layer")
    if layers:
        axes[2].legend(fontsize=7, title="first and last layer", title_fontsize=7)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"{history.model} on {history.data}: batch {history.config.batch_size}, "
        f"lr {history.config.lr}, seed {history.config.seed}"
        + (" (interrupted)" if history.interrupted else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(str(path), format=format)
    plt.close(fig)


__all__ = ["plot_history"]
