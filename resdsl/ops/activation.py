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


#: Activations without arguments, in the order they are listed: the language's
#: name, PyTorch's class and, where it has one, another name it goes by.
_ARGUMENT_FREE: tuple[tuple[str, str, str], ...] = (
    ("silu", "SiLU", "swish"),
    ("mish", "Mish", ""),
    ("sigmoid", "Sigmoid", ""),
    ("tanh", "Tanh", ""),
    ("hardswish", "Hardswish", ""),
    ("hardsigmoid", "Hardsigmoid", ""),
)


def argument_free(name: str, torch_name: str, aka: str = "") -> Activation:
    """The activation ``name`` -> ``nn.<torch_name>()``, which takes no arguments.

    >>> argument_free("tanh", "Tanh").torch_init(NoArgs(), (4,))
    'nn.Tanh()'
    """
    also = f" ({aka})" if aka else ""
    layer_class = type(
        torch_name,
        (Activation,),
        {
            "__doc__": f"``{name}`` -> ``nn.{torch_name}()``{also}.",
            "__module__": __name__,
            "name": name,
            "torch_name": torch_name,
        },
    )
    activation: Activation = layer_class()
    return activation


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
    *(argument_free(name, torch_name, aka) for name, torch_name, aka in _ARGUMENT_FREE),
    Softmax(),
)
