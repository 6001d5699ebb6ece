"""Activations: element-wise nonlinearities (and ``softmax``); the shape is unchanged.

Each counts towards a path's nonlinearity depth. PyTorch's ``inplace`` flags
are left out: an in-place activation would overwrite a value that a skip edge
still carries.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, call_source
from resdsl.ops.common import ALWAYS, Float, Int, NoArgs, keywords_of, normalize_dim, torch_dim


class Activation(Layer):
    """An element-wise activation ``nn.<torch_name>``, its arguments PyTorch's."""

    torch_name: ClassVar[str]
    Args: ClassVar[type[LayerArgs]] = NoArgs
    category = "activation"
    nonlinear = True

    def infer(self, args: Any, shape: Shape) -> Shape:
        return shape

    def torch_init(self, args: Any, shape: Shape) -> str:
        return call_source(f"nn.{self.torch_name}", [], keywords_of(args))


class ReLU(Activation):
    """``relu`` -> ``nn.ReLU()``."""

    name = "relu"
    inplace = True
    torch_name = "ReLU"


class ReLU6(Activation):
    """``relu6`` -> ``nn.ReLU6()``."""

    name = "relu6"
    inplace = True
    torch_name = "ReLU6"


class LeakyReLUArgs(LayerArgs):
    negative_slope: Float = 0.01


class LeakyReLU(Activation):
    """``leaky_relu(negative_slope=0.01)`` -> ``nn.LeakyReLU``."""

    name = "leaky_relu"
    inplace = True
    torch_name = "LeakyReLU"
    Args = LeakyReLUArgs


class ELUArgs(LayerArgs):
    alpha: Float = 1.0


class ELU(Activation):
    """``elu(alpha=1.0)`` -> ``nn.ELU``."""

    name = "elu"
    torch_name = "ELU"
    Args = ELUArgs


class GELUArgs(LayerArgs):
    approximate: Literal["none", "tanh"] = "none"


class GELU(Activation):
    """``gelu(approximate="none")`` -> ``nn.GELU``; ``"tanh"`` is the tanh approximation."""

    name = "gelu"
    torch_name = "GELU"
    Args = GELUArgs


class SiLU(Activation):
    """``silu`` -> ``nn.SiLU()`` (swish)."""

    name = "silu"
    torch_name = "SiLU"


class Mish(Activation):
    """``mish`` -> ``nn.Mish()``."""

    name = "mish"
    torch_name = "Mish"


class Sigmoid(Activation):
    """``sigmoid`` -> ``nn.Sigmoid()``."""

    name = "sigmoid"
    torch_name = "Sigmoid"


class Tanh(Activation):
    """``tanh`` -> ``nn.Tanh()``."""

    name = "tanh"
    torch_name = "Tanh"


class Hardswish(Activation):
    """``hardswish`` -> ``nn.Hardswish()``."""

    name = "hardswish"
    torch_name = "Hardswish"


class Hardsigmoid(Activation):
    """``hardsigmoid`` -> ``nn.Hardsigmoid()``."""

    name = "hardsigmoid"
    torch_name = "Hardsigmoid"


class SoftmaxArgs(LayerArgs):
    dim: Int = 0


class Softmax(Activation):
    """``softmax(dim=0)`` -> ``nn.Softmax(dim=dim + 1)``.

    ``dim`` counts from the first non-batch dimension (``softmax(dim=0)`` on
    ``[C, H, W]`` is over channels), so a non-negative ``dim`` is emitted shifted
    by one past the batch; a negative one counts from the end and is emitted as
    is. It must lie in ``[-rank, rank - 1]`` of the shape without batch.
    """

    name = "softmax"
    torch_name = "Softmax"
    Args = SoftmaxArgs

    def infer(self, args: SoftmaxArgs, shape: Shape) -> Shape:
        normalize_dim(self.name, "dim", args.dim, len(shape))
        return shape

    def torch_init(self, args: SoftmaxArgs, shape: Shape) -> str:
        return call_source("nn.Softmax", [], [("dim", torch_dim(args.dim), ALWAYS)])


ACTIVATIONS: tuple[Activation, ...] = (
    ReLU(),
    ReLU6(),
    LeakyReLU(),
    ELU(),
    GELU(),
    SiLU(),
    Mish(),
    Sigmoid(),
    Tanh(),
    Hardswish(),
    Hardsigmoid(),
    Softmax(),
)
