"""Shortcuts: what a skip into an ``add`` passes through (``shortcut=`` in docs/language.md section 6).

``identity`` passes the skip's value as it is; ``projection`` (ResNet's option
B) is a 1x1 convolution and a batch norm, sized to the merge; ``zeropad``
(option A) subsamples and zero-pads channels, without parameters; ``auto``
is the identity where the shapes already match and a projection elsewhere. A
block with parameters ``(channels: int, stride: int)`` can be a shortcut too;
the elaborator instantiates it (it is not an op of its own).

A shortcut resolves, for a given pair of shapes, to the op that runs
(:meth:`Shortcut.resolve`); graph edges record that name in ``shortcut``.

>>> from resdsl.ops.registry import get_op
>>> get_op("auto", "shortcut").resolve(same=True), get_op("auto", "shortcut").resolve(same=False)
('identity', 'projection')
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from resdsl.ir import dims
from resdsl.ir.dims import Shape
from resdsl.ir.graph import NoArgs, ZeroPadArgs
from resdsl.ops.base import BoxStyle, Emit, Line, Op, OpKind, PathRole, ShapeError
from resdsl.ops.label import stride_text

_SHORTCUT_PATH = PathRole(shortcut=True)
#: How a diagram draws a shortcut on its skip path.
SHORTCUT_BOX = BoxStyle(fill="#e8f1fc", color="#1f6fd1")

#: What a resolved shortcut builds: nothing (the identity), one node of its
#: own op, or layers in a shortcut scope.
Builds = Literal["nothing", "node", "layers"]


class Shortcut(Op):
    """Base of a shortcut. ``description`` names it in diagnostics ("no projection maps ...")."""

    kind: ClassVar[OpKind] = "shortcut"
    Args: ClassVar[type[Any]] = NoArgs
    description: ClassVar[str] = "shortcut"
    builds: ClassVar[Builds] = "nothing"
    box: ClassVar[BoxStyle] = SHORTCUT_BOX

    @property
    def path(self) -> PathRole:
        return _SHORTCUT_PATH

    def resolve(self, same: bool) -> str:
        """The shortcut that runs between two shapes (``same``: they already match)."""
        return self.name

    def layers(
        self, channels: int, stride: int | tuple[int, ...]
    ) -> list[tuple[str, dict[str, Any]]]:
        """For ``builds == "layers"``: the layers (name, arguments) of its scope, in order."""
        raise NotImplementedError

    def node(self, src: Shape, dst: Shape, stride: tuple[int, ...]) -> tuple[Any, Shape]:
        """For ``builds == "node"``: its node's arguments and output shape; ShapeError if none."""
        raise NotImplementedError

    def feature_layers(self, features: int) -> list[tuple[str, dict[str, Any]]] | None:
        """For a features layout (:func:`features_change`): the layers that map the last
        dimension to ``features``, or None if this shortcut cannot."""
        return None


class IdentityShortcut(Shortcut):
    """``identity``: the skip's value as it is (the shapes must already match)."""

    name = "identity"


class Auto(Shortcut):
    """``auto``: the identity where the shapes match, else a projection."""

    name = "auto"
    description = "projection"

    def resolve(self, same: bool) -> str:
        return "identity" if same else "projection"


class Projection(Shortcut):
    """``projection``: ``conv(channels, 1, stride, bias=false)`` then ``batchnorm``."""

    name = "projection"
    description = "projection"
    builds = "layers"

    def layers(
        self, channels: int, stride: int | tuple[int, ...]
    ) -> list[tuple[str, dict[str, Any]]]:
        conv = {"out_channels": channels, "kernel_size": 1, "stride": stride, "bias": False}
        return [("conv", conv), ("batchnorm", {})]

    def feature_layers(self, features: int) -> list[tuple[str, dict[str, Any]]] | None:
        """A bias-free linear layer on the last dimension (a transformer's projection)."""
        return [("linear", {"out_features": features, "bias": False})]


class ZeroPad(Shortcut):
    """``zeropad``: subsample by the stride, zero-pad channels (no parameters)."""

    name = "zeropad"
    description = "zero-padding shortcut"
    builds = "node"
    Args = ZeroPadArgs

    def resolve(self, same: bool) -> str:
        return "identity" if same else self.name

    def node(self, src: Shape, dst: Shape, stride: tuple[int, ...]) -> tuple[Any, Shape]:
        channels = int(dst[0])
        diff = channels - int(src[0])
        if diff < 0:
            raise ShapeError(
                f"zeropad cannot reduce {int(src[0])} channels to {channels}",
                hint="use shortcut=projection",
            )
        shape = (channels, *(dims.window(n, 1, s) for n, s in zip(src[1:], stride, strict=True)))
        return ZeroPadArgs(stride=stride, pad_before=diff // 2, pad_after=diff - diff // 2), shape

    def is_noop(self, args: ZeroPadArgs) -> bool:
        return all(s == 1 for s in args.stride) and not (args.pad_before or args.pad_after)

    def forward_lines(self, args: ZeroPadArgs, out: str, ins: list[str], emit: Emit) -> list[Line]:
        x = ins[0]
        lines: list[Line] = []
        src = x
        if any(s != 1 for s in args.stride):
            steps = ", ".join(f"::{emit.literal(int(s))}" for s in args.stride)
            lines.append((f"{out} = {x}[:, :, {steps}]", False))
            src = out
        if args.pad_before or args.pad_after:
            emit.use_functional()
            pads = ["0, 0"] * len(args.stride) + [
                f"{emit.literal(int(args.pad_before))}, {emit.literal(int(args.pad_after))}"
            ]
            lines.append((f"{out} = F.pad({src}, ({', '.join(pads)}))", False))
        if not lines:
            lines.append((f"{out} = {x}", False))
        last, _ = lines[-1]
        lines[-1] = (last, True)
        return lines

    def label(self, args: Any, rank: int) -> str:
        if args is None:
            return self.name
        if set(args.stride) == {1} and args.pad_before == args.pad_after == 0:
            return "zeropad (identity here)"
        return f"zeropad /{stride_text(args.stride)}, +{args.pad_before}+{args.pad_after} ch"


def features_change(src: Shape, dst: Shape) -> int | None:
    """The new size of the last dimension, when only it differs in a features layout.

    A features layout is ``[F]`` or ``[T, ..., F]`` with a symbolic first
    dimension (a sequence): layers act on the last dimension there, so a
    projection is a linear layer, not a 1x1 convolution over the first.

    >>> from resdsl.ir.dims import symbol
    >>> t = symbol("T", 16)
    >>> features_change((t, 32), (t, 64)), features_change((3, 8, 8), (6, 8, 8))
    (64, None)
    """
    if len(src) != len(dst) or not src:
        return None
    if len(src) > 1 and not dims.is_symbolic(src[0]):
        return None
    if dims.is_symbolic(src[-1]) or dims.is_symbolic(dst[-1]) or int(src[-1]) == int(dst[-1]):
        return None
    same = all(
        int(a) == int(b) and dims.expr_of(a) == dims.expr_of(b)
        for a, b in zip(src[:-1], dst[:-1], strict=True)
    )
    return int(dst[-1]) if same else None


BUILTIN_SHORTCUTS: tuple[Shortcut, ...] = (IdentityShortcut(), Auto(), Projection(), ZeroPad())
