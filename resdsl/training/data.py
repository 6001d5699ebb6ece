"""Training data: scikit-learn's bundled digits, ``.npz`` arrays, or an image folder.

A :class:`Dataset` holds every example in memory as a float tensor
``[N, C, H, W]`` with integer labels ``[N]``; the data sets this is meant for
(digits: 1,797 images of 1x8x8) are small enough that a data loader would only
add overhead. Anything that cannot be read is a usage error (exit 2) naming
the accepted forms, never a traceback.

>>> import torch
>>> data = Dataset("toy", torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]))
>>> data.shape, data.num_classes, len(data)
((1, 2, 2), 2, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import torch

from resdsl.diagnostics import ResdslError
from resdsl.ir.dims import describe, is_symbolic

#: What ``--data`` accepts, in every error about it.
ACCEPTED = (
    "'digits' (scikit-learn's bundled 8x8 digits: pip install 'resdsl[train]'), "
    "a .npz file with arrays 'x' [N, C, H, W] or [N, H, W] and 'y' [N], "
    "or a folder with one sub-folder of .png/.jpg images per class"
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class Dataset:
    """Examples ``x`` ``[N, C, H, W]`` (float32) and labels ``y`` ``[N]`` (int64)."""

    name: str
    x: torch.Tensor
    y: torch.Tensor

    @property
    def shape(self) -> tuple[int, ...]:
        """One example's shape, without the batch dimension."""
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0

    def __len__(self) -> int:
        return int(self.x.shape[0])


def data_error(message: str) -> ResdslError:
    return ResdslError.single("usage", message, hint=f"--data takes {ACCEPTED}")


def load_data(source: str | Path) -> Dataset:
    """The data set named ``digits``, or the one at a ``.npz`` path or image folder.

    >>> load_data("no/such/thing.csv")
    Traceback (most recent call last):
    ...
    resdsl.diagnostics.ResdslError: error: cannot read training data 'no/such/thing.csv': no such file or folder
      hint: --data takes 'digits' ...
    """
    if str(source) == "digits":
        return load_digits()
    path = Path(source)
    if path.is_dir():
        return load_image_folder(path)
    if path.is_file() and path.suffix == ".npz":
        return load_npz(path)
    why = "not a .npz file or an image folder" if path.exists() else "no such file or folder"
    raise data_error(f"cannot read training data '{source}': {why}")


def load_digits() -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 1x8x8, pixel values scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise data_error("--data digits needs scikit-learn: pip install 'resdsl[train]'") from None
    bunch = sklearn_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return Dataset("digits", x, torch.tensor(bunch.target, dtype=torch.int64))


def load_npz(path: Path) -> Dataset:
    """Arrays ``x`` (``[N, C, H, W]``, or ``[N, H, W]`` for one channel) and ``y`` (``[N]``)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            if "x" not in arrays or "y" not in arrays:
                raise data_error(f"{path}: needs arrays named 'x' and 'y', has {sorted(arrays)}")
            x, y = arrays["x"], arrays["y"]
    except (OSError, ValueError) as error:
        raise data_error(f"cannot read {path}: {error}") from None
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise data_error(
            f"{path}: expected x [N, C, H, W] and y [N] with the same N > 0, "
            f"got x {list(x.shape)} and y {list(y.shape)}"
        )
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise data_error(f"{path}: labels 'y' must be integers >= 0, got {y.dtype}")
    return Dataset(
        path.name, torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    )


def load_image_folder(folder: Path) -> Dataset:
    """One sub-folder per class (sorted names are labels 0, 1, ...), images scaled to [0, 1].

    Images are read with Pillow (installed with matplotlib); all must have the
    same size and mode.
    """
    try:
        from PIL import Image
    except ImportError:
        raise data_error(
            f"reading the image folder {folder} needs Pillow: pip install pillow"
        ) from None
    import numpy as np

    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, sub in enumerate(classes):
        for file in sorted(sub.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(file) as image:
                    images.append(np.asarray(image, dtype=np.float32) / 255.0)
                labels.append(label)
    if not images:
        raise data_error(f"{folder}: no class sub-folders with images in them")
    shapes = {a.shape for a in images}
    if len(shapes) > 1:
        raise data_error(f"{folder}: images differ in size or mode: {sorted(shapes)}")
    x = np.stack(images)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # HWC -> CHW
    return Dataset(folder.name, torch.from_numpy(np.ascontiguousarray(x)), torch.tensor(labels))


def split(data: Dataset, holdout: float, *, seed: int = 0) -> tuple[Dataset, Dataset]:
    """A seeded random split into (training, held-out) with ``holdout`` of the examples held out.

    >>> a, b = split(Dataset("t", torch.zeros(10, 1, 1, 1), torch.arange(10)), 0.2)
    >>> len(a), len(b), sorted(a.y.tolist() + b.y.tolist()) == list(range(10))
    (8, 2, True)
    """
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    n_out = round(len(data) * holdout)
    kept, held = order[n_out:], order[:n_out]
    return (
        Dataset(data.name, data.x[kept], data.y[kept]),
        Dataset(f"{data.name} (held out)", data.x[held], data.y[held]),
    )


def with_label_noise(data: Dataset, fraction: float, *, seed: int = 0) -> Dataset:
    """The data with ``fraction`` of its labels replaced by uniformly random classes (seeded).

    Random labels cannot be learned, only memorised: fitting them measures how
    well a network *optimises*, which is what the degradation experiment asks.

    >>> labels = torch.arange(1000) % 10
    >>> noisy = with_label_noise(Dataset("t", torch.zeros(1000, 1, 1, 1), labels), 0.5)
    >>> changed = float((noisy.y != labels).float().mean())   # half drawn, 9 in 10 of those change
    >>> 0.4 < changed < 0.5
    True
    """
    g = torch.Generator().manual_seed(seed)
    chosen = torch.rand(len(data), generator=g) < fraction
    random = torch.randint(0, data.num_classes, (len(data),), generator=g)
    y = torch.where(chosen, random, data.y)
    return Dataset(f"{data.name} ({fraction:.0%} random labels)", data.x, y)


def augment(x: torch.Tensor, generator: torch.Generator, *, flip: bool = True) -> torch.Tensor:
    """He et al.'s CIFAR augmentation of a batch ``[B, C, H, W]``: pad, random crop, random flip.

    Each image is padded with zeros by an eighth of its size on every side (4
    pixels for 32x32, as in the paper; 1 for 8x8), a crop of the original size
    is taken at a random offset, and, with ``flip``, half the images are
    mirrored left to right. The draws come from ``generator``, so a seeded
    run is repeatable.

    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> out = augment(x, torch.Generator().manual_seed(0), flip=False)
    >>> out.shape, bool(torch.isin(out[out != 0], x).all())
    (torch.Size([1, 1, 4, 4]), True)
    """
    b, _, h, w = x.shape
    pad_h, pad_w = max(1, h // 8), max(1, w // 8)
    padded = torch.nn.functional.pad(x, (pad_w, pad_w, pad_h, pad_h))
    top = torch.randint(0, 2 * pad_h + 1, (b,), generator=generator)
    left = torch.randint(0, 2 * pad_w + 1, (b,), generator=generator)
    rows = (top[:, None] + torch.arange(h))[:, None, :, None]  # [B, 1, H, 1]
    cols = (left[:, None] + torch.arange(w))[:, None, None, :]  # [B, 1, 1, W]
    batch = torch.arange(b)[:, None, None, None]
    channel = torch.arange(x.shape[1])[None, :, None, None]
    out = padded[batch, channel, rows, cols]
    if flip:
        mirrored = torch.rand(b, generator=generator) < 0.5
        out = torch.where(mirrored[:, None, None, None], out.flip(-1), out)
    return out


def input_sizes(
    graph: nx.DiGraph, data: Dataset, given: frozenset[str] = frozenset()
) -> dict[str, int]:
    """The input-size symbols to set so that the model takes the data's examples.

    A symbolic size (``H``, ``W``) not already ``given`` on the command line is
    set to the data's size. A fixed size must match, except that one-channel
    data feeds a model with more channels (replicated, as in
    :func:`adapt_channels`); anything else is a usage error.
    """
    model_shape = tuple(graph.graph["input_shape"])
    symbols = graph.graph["symbols"]
    if len(model_shape) != len(data.shape):
        raise _shape_error(graph, data)
    sizes: dict[str, int] = {}
    for axis, (want, have) in enumerate(zip(model_shape, data.shape, strict=True)):
        name = describe(want) if is_symbolic(want) else None
        if name is not None and name in symbols and name not in given:
            sizes[name] = have
        elif int(want) != have and not (axis == 0 and have == 1):
            raise _shape_error(graph, data)
    return sizes


def _shape_error(graph: nx.DiGraph, data: Dataset) -> ResdslError:
    shape = ", ".join(describe(d) for d in graph.graph["input_shape"])
    return ResdslError.single(
        "usage",
        f"model {graph.graph['model']} takes input [{shape}], "
        f"but the examples of {data.name} are {list(data.shape)}",
        hint="choose a model whose input matches, or set its input sizes with -p H=... -p W=...",
    )


def adapt_channels(data: Dataset, channels: int) -> Dataset:
    """One-channel (grayscale) data replicated to ``channels``, as Pillow's ``convert('RGB')``.

    >>> adapt_channels(Dataset("t", torch.ones(2, 1, 4, 4), torch.tensor([0, 1])), 3).shape
    (3, 4, 4)
    """
    if data.shape[0] == channels:
        return data
    return Dataset(data.name, data.x.expand(-1, channels, -1, -1).contiguous(), data.y)


__all__ = [
    "ACCEPTED",
    "Dataset",
    "adapt_channels",
    "augment",
    "input_sizes",
    "load_data",
    "load_digits",
    "split",
    "with_label_noise",
]
