"""The degradation experiment (He et al. 2015, Fig. 1 and Fig. 6): deeper plain nets train worse.

Train plain-20, plain-56, ResNet-20 and ResNet-56 (the bundled
``plain_resnet.res`` and ``cifar_resnet.res``) with the same recipe over
several seeds, and compare their training error. In the paper the plain
56-layer network ends with a *higher training* error than the 20-layer one --
an optimisation failure, not overfitting -- while the residual 56-layer one
trains better than the 20-layer one. On digits (``docs/training.md``) plain-56
trains far worse than plain-20 in every setting tried; with He et al.'s
augmentation and zero-initialised residual branches ResNet-56 trains as well
as ResNet-20.

>>> smooth([1.0, 0.0, 1.0, 0.0], 2)
[1.0, 0.5, 0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import mean

from pydantic import BaseModel

from resdsl.training.data import Dataset
from resdsl.training.fit import Spec, train_spec
from resdsl.training.loop import StepRecord
from resdsl.training.schedule import TrainConfig

#: (spec file in the bundled library, model): the four networks of the experiment.
MODELS = (
    ("plain_resnet.res", "plain20"),
    ("plain_resnet.res", "plain56"),
    ("cifar_resnet.res", "resnet20"),
    ("cifar_resnet.res", "resnet56"),
)


class Run(BaseModel):
    """One model trained from one seed: its per-step batch errors and its final training errors.

    ``last_epoch_error`` is the mean error of the batches of the last epoch of
    steps, as trained (augmented, in training mode): the training error of He
    et al.'s plots. ``final_error`` is the error on the whole training set,
    not augmented, in eval mode, after the last step.
    """

    model: str
    seed: int
    errors: list[float]
    last_epoch_error: float
    final_error: float | None
    cpu_seconds: float
    interrupted: bool = False


class Degradation(BaseModel):
    """Every run of the experiment, with the data and the recipe they shared."""

    data: str
    examples: int
    config: TrainConfig
    runs: list[Run] = []
    interrupted: bool = False

    def final_errors(self, model: str) -> list[float]:
        return [r.final_error for r in self.runs if r.model == model and r.final_error is not None]

    def mean_final_error(self, model: str) -> float | None:
        errors = self.final_errors(model)
        return mean(errors) if errors else None

    def last_epoch_errors(self, model: str) -> list[float]:
        return [r.last_epoch_error for r in self.runs if r.model == model]

    def mean_last_epoch_error(self, model: str) -> float | None:
        errors = self.last_epoch_errors(model)
        return mean(errors) if errors else None

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r.model for r in self.runs))


def run_degradation(
    models: Sequence[tuple[Spec, str]],
    data: Dataset,
    config: TrainConfig,
    seeds: Sequence[int],
    *,
    device: str = "cpu",
    on_run: Callable[[str, int], None] | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
) -> Degradation:
    """Train every (spec, model) from every seed with ``config``; stop early on Ctrl-C.

    The seed sets both the initial weights and the order of the batches.
    """
    result = Degradation(data=data.name, examples=len(data), config=config)
    for seed in seeds:
        for spec, model in models:
            if on_run is not None:
                on_run(model, seed)
            run = train_spec(
                spec,
                model,
                data,
                config.model_copy(update={"seed": seed}),
                device=device,
                on_step=on_step,
            )
            h = run.history
            errors = [r.error for r in h.records]
            last = errors[-config.steps_per_epoch(len(data)) :]
            result.runs.append(
                Run(
                    model=model,
                    seed=seed,
                    errors=errors,
                    last_epoch_error=sum(last) / len(last) if last else 1.0,
                    final_error=h.final_error,
                    cpu_seconds=h.cpu_seconds,
                    interrupted=h.interrupted,
                )
            )
            if h.interrupted:
                result.interrupted = True
                return result
    return result


def smooth(values: Sequence[float], window: int) -> list[float]:
    """The mean of each value and the ``window - 1`` before it (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot(result: Degradation, path: str | Path, *, format: str | None = None) -> None:
    """Training error against steps, plain nets left and residual nets right (as Fig. 6).

    Each seed is a thin line, smoothed over an epoch of batches. Needs matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = max(1, result.examples // result.config.batch_size)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110, sharey=True)
    colours: dict[str, str] = {}
    for run in result.runs:
        plain = run.model.startswith("plain")
        ax = axes[0] if plain else axes[1]
        colour = colours.setdefault(run.model, f"C{len(colours)}")
        mean_error = result.mean_last_epoch_error(run.model)
        label = (
            f"{run.model} (last epoch {mean_error:.1%})" if mean_error is not None else run.model
        )
        ax.plot(
            smooth(run.errors, window),
            color=colour,
            linewidth=1.0,
            alpha=0.8,
            label=label if run.seed == result.runs[0].seed else None,
        )
    for ax, title in zip(axes, ("plain", "residual"), strict=True):
        ax.set_title(f"{title} networks", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"training error (batch, mean over {window} steps)")
    seeds = sorted({r.seed for r in result.runs})
    fig.suptitle(
        f"{result.data}: {result.config.steps} steps of batch {result.config.batch_size}, seeds {seeds}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(str(path), format=format)
    plt.close(fig)


__all__ = ["MODELS", "Degradation", "Run", "plot", "run_degradation", "smooth"]
