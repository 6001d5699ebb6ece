"""``linear``: a fully connected layer on the last dimension."""

from __future__ import annotations

import math

from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, call_source
from resdsl.ops.common import Bool, PosInt, check_min_rank


class LinearArgs(LayerArgs):
    out_features: PosInt
    bias: Bool = True


class Linear(Layer):
    """``linear(out_features, bias)`` -> ``nn.Linear(shape[-1], out_features)``.

    Acts on the last dimension: ``[*lead, F]`` -> ``[*lead, out_features]``
    (``[F]`` after ``flatten``, ``[T, D]`` in a transformer). MACs are
    ``out_features * F`` per leading position.
    """

    name = "linear"
    fresh_output = True  # a new tensor its backward does not keep
    Args = LinearArgs
    category = "weighted"

    def infer(self, args: LinearArgs, shape: Shape) -> Shape:
        check_min_rank(self.name, shape)
        return (*shape[:-1], args.out_features)

    def params(self, args: LinearArgs, shape: Shape) -> int:
        return args.out_features * int(shape[-1]) + (args.out_features if args.bias else 0)

    def macs(self, args: LinearArgs, shape: Shape, out: Shape) -> int:
        return args.out_features * int(shape[-1]) * math.prod(int(d) for d in shape[:-1])

    def param_dims(self, args: LinearArgs, shape: Shape) -> tuple[int, ...]:
        return (len(shape) - 1,)

    def torch_init(self, args: LinearArgs, shape: Shape) -> str:
        return call_source(
            "nn.Linear", [int(shape[-1]), args.out_features], [("bias", args.bias, True)]
        )
