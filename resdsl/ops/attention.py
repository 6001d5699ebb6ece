"""Sequence layers: ``attention`` (self-attention) and ``embedding``."""

from __future__ import annotations

from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from resdsl.ir.dims import Shape
from resdsl.ops.base import Layer, LayerArgs, ShapeError, call_source
from resdsl.ops.common import (
    ALWAYS,
    Bool,
    Float,
    Int,
    PosFloat,
    PosInt,
    Probability,
    check_rank,
    keywords_of,
)


class AttentionArgs(LayerArgs):
    num_heads: PosInt
    dropout: Probability = 0.0
    bias: Bool = True
    add_bias_kv: Bool = False
    add_zero_attn: Bool = False


class Attention(Layer):
    """``attention(num_heads, dropout=0.0, bias=true)``: multi-head self-attention.

    -> ``nn.MultiheadAttention(D, num_heads, ..., batch_first=True)`` on
    ``[T, D]``, called as ``module(x, x, x, need_weights=False)[0]``; output
    ``[T, D]``. ``num_heads`` must divide ``D``. ``add_bias_kv`` and
    ``add_zero_attn`` are PyTorch's (each adds a key/value position); ``kdim``,
    ``vdim`` and ``batch_first`` are fixed by self-attention on batch-first input.
    MACs: ``4 T D^2`` for the q, k, v and output projections plus ``2 T T' D``
    for the scores and the weighted sum over the ``T'`` key positions.
    """

    name = "attention"
    Args = AttentionArgs
    category = "weighted"
    ranks = (2,)

    def infer(self, args: AttentionArgs, shape: Shape) -> Shape:
        check_rank(self.name, shape, self.ranks, hint="attention takes a sequence [T, D]")
        if int(shape[1]) % args.num_heads:
            raise ShapeError(
                f"num_heads={args.num_heads} does not divide the embedding size {int(shape[1])}",
                hint="each head gets D / num_heads features, so it must be a whole number",
                arg="num_heads",
            )
        return shape

    def params(self, args: AttentionArgs, shape: Shape) -> int:
        d = int(shape[1])
        weights = 3 * d * d + d * d  # in_proj_weight, out_proj.weight
        biases = 4 * d if args.bias else 0  # in_proj_bias, out_proj.bias
        bias_kv = 2 * d if args.add_bias_kv else 0  # bias_k, bias_v
        return weights + biases + bias_kv

    def macs(self, args: AttentionArgs, shape: Shape, out: Shape) -> int:
        t, d = int(shape[0]), int(shape[1])
        keys = t + int(args.add_bias_kv) + int(args.add_zero_attn)
        return 4 * t * d * d + 2 * t * keys * d

    def param_dims(self, args: AttentionArgs, shape: Shape) -> tuple[int, ...]:
        return (len(shape) - 1,)

    def torch_init(self, args: AttentionArgs, shape: Shape) -> str:
        return call_source(
            "nn.MultiheadAttention",
            [int(shape[1]), args.num_heads],
            [*keywords_of(args, "num_heads"), ("batch_first", True, ALWAYS)],
        )

    def torch_call(self, module: str, x: str, args: AttentionArgs, shape: Shape) -> str:
        return f"{module}({x}, {x}, {x}, need_weights=False)[0]"


class EmbeddingArgs(LayerArgs):
    num_embeddings: PosInt
    embedding_dim: PosInt
    padding_idx: Int | None = None
    max_norm: PosFloat | None = None
    norm_type: Float = 2.0
    scale_grad_by_freq: Bool = False
    sparse: Bool = False

    @field_validator("padding_idx")
    @classmethod
    def _inside_table(cls, value: int | None, info: ValidationInfo) -> int | None:
        n = info.data.get("num_embeddings")
        if value is not None and n is not None and not -n <= value < n:
            raise PydanticCustomError(
                "padding_idx_range",
                "padding_idx must be between {low} and {high}",
                {"low": -n, "high": n - 1},
            )
        return value


class Embedding(Layer):
    """``embedding(num_embeddings, embedding_dim)`` -> ``nn.Embedding``.

    Input ``[T]`` of integer indices -> ``[T, embedding_dim]`` (any input shape
    gets a trailing ``embedding_dim``, as in PyTorch). The remaining arguments
    are PyTorch's. No input dimension sizes the table, and there are no MACs
    (a lookup), so its category is ``other``.
    """

    name = "embedding"
    integer_input = True
    Args = EmbeddingArgs
    category = "other"

    def infer(self, args: EmbeddingArgs, shape: Shape) -> Shape:
        return (*shape, args.embedding_dim)

    def params(self, args: EmbeddingArgs, shape: Shape) -> int:
        return args.num_embeddings * args.embedding_dim

    def torch_init(self, args: EmbeddingArgs, shape: Shape) -> str:
        return call_source(
            "nn.Embedding",
            [args.num_embeddings, args.embedding_dim],
            keywords_of(args, "num_embeddings", "embedding_dim"),
        )
