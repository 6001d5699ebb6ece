"""Training evidence for the skip-connection questions: train, lesion, the degradation experiment.

Everything here works on a compiled ``torch.nn.Module`` (``spec.compile``) and
its checked graph; nothing re-interprets the graph.
"""

from __future__ import annotations

from resdsl.training.data import Dataset, load_data, split, with_label_noise
from resdsl.training.fit import TrainedModel, train_spec
from resdsl.training.loop import History, StepRecord, evaluate_error, train
from resdsl.training.schedule import TrainConfig, learning_rate

__all__ = [
    "Dataset",
    "History",
    "StepRecord",
    "TrainConfig",
    "TrainedModel",
    "evaluate_error",
    "learning_rate",
    "load_data",
    "split",
    "train",
    "train_spec",
    "with_label_noise",
]
