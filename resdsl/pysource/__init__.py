"""A spec file as a hand-written-looking PyTorch module: one class per definition.

:func:`write_module` writes each ``block`` as an ``nn.Module`` class whose
constructor takes the block's parameters (after the input channels), each
``model`` as a class taking the model's parameters, and a function per model
and alias (``resnet50(**kwargs)``), as torchvision does. Expressions are the
spec's, written as Python; ``repeat`` is a loop and ``if`` an ``if``.

Where a spec uses something this writer cannot express with parameters, it
raises :class:`Unsupported` with the reason, and the caller writes the
per-instance source of :mod:`resdsl.backends.codegen` instead (see
docs/pysource.md).
"""

from __future__ import annotations

from resdsl.pysource.pyexpr import Unsupported
from resdsl.pysource.render import write_module

__all__ = ["Unsupported", "write_module"]
