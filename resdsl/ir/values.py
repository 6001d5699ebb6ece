"""Values that elaboration stores in the graph and back ends read (pure; no torch).

A block argument or a shortcut kind may be a block itself (``unit: block =
basic``); the graph keeps it as a :class:`BlockRef`, so that code generation
and rendering can write it back without knowing the front end.

>>> str(BlockRef("basic")), BlockRef("basic") == BlockRef("basic")
('basic', True)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BlockRef:
    """A block used as a value: ``unit: block = basic``."""

    name: str

    def __str__(self) -> str:
        return self.name


__all__ = ["BlockRef"]
