"""A model's initialisation scheme, written for every value of its ``init`` parameter.

A model that declares ``init: str`` chooses its weights' scheme
(:mod:`resdsl.backends.init`). The per-instance source writes the chosen
scheme's lines at the end of the model's ``__init__``; the parametric module
writes each scheme's same lines under a test of the parameter, as torchvision
writes ``zero_init_residual``::

    if init == "kaiming":
        # init="kaiming": torchvision's scheme (He et al. 2015: fan_out, for ReLU)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            ...
    elif init != "default":
        raise ValueError(f"unknown initialisation scheme {init!r}")

The loop visits the modules in the order they were registered, which is the
order of the ``state_dict`` (checked against the compile), so a model built
from the written module under ``torch.manual_seed(k)`` draws the same numbers
in the same order as the compile's and starts from the same weights.

``zero_init_residual`` zeroes norm layers that the back end finds per
instance (:func:`resdsl.backends.init.residual_norms`); a model that declares
it is :class:`Unsupported`.
"""

from __future__ import annotations

import networkx as nx

from resdsl.backends.init import SCHEMES, init_lines
from resdsl.pysource.chain import INDENT
from resdsl.pysource.pyexpr import Unsupported
from resdsl.pysource.text import WIDTH
from resdsl.syntax import ast

#: The model parameters that choose an initialisation.
INIT = "init"
ZERO_INIT_RESIDUAL = "zero_init_residual"
#: The variable the scheme's loop over ``self.modules()`` uses.
_LOOP = "m"
#: The indentation of a model class's ``__init__`` body.
_MODEL_INIT_INDENT = len(INDENT) * 2


def condition_rows(line: str, indent: int) -> list[str]:
    """An ``if``/``elif`` line too long at ``indent`` split at its last ``and``, as ruff
    formats it (each row is then wrapped on its own).

    >>> condition_rows("elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:", 70)
    ['elif (', '    isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))', '    and m.affine', '):']
    """
    code = line.lstrip()
    pad = line[: len(line) - len(code)]
    keyword, _, test = code.partition(" ")
    if (
        indent + len(line) <= WIDTH
        or keyword not in ("if", "elif")
        or not test.endswith(":")
        or " and " not in test
    ):
        return [line]
    left, _, right = test[:-1].rpartition(" and ")
    if left.count("(") != left.count(")"):
        return [line]  # the last "and" is inside brackets
    return [f"{pad}{keyword} (", f"{pad}{INDENT}{left}", f"{pad}{INDENT}and {right}", f"{pad}):"]


def scheme_lines(params: tuple[ast.Param, ...]) -> list[str]:
    """The lines that end a model class's ``__init__`` (none without an ``init`` parameter).

    >>> import resdsl
    >>> spec = resdsl.loads('model m(init: str = "default") { input [3, 8, 8]; conv(4, 3) }')
    >>> lines = scheme_lines(spec.program.models["m"].params)
    >>> lines[0], lines[-2]
    ('if init == "kaiming":', 'elif init != "default":')
    """
    names = {p.name for p in params}
    if ZERO_INIT_RESIDUAL in names:
        raise Unsupported(
            "a model's zero_init_residual parameter (the norms it zeroes are found per instance)"
        )
    if INIT not in names:
        return []
    if _LOOP in names:
        raise Unsupported(f"a model parameter named '{_LOOP}' beside its initialisation scheme")
    lines: list[str] = []
    for scheme in SCHEMES:
        body = init_lines(nx.DiGraph(), scheme, False, str)
        if not body:
            continue  # "default": PyTorch's own initialisation, nothing to write
        lines.append(f'{"if" if not lines else "elif"} {INIT} == "{scheme}":')
        for line in body:
            lines += condition_rows(INDENT + line, _MODEL_INIT_INDENT)
    test = f'{INIT} != "default"'
    lines.append(f"elif {test}:" if lines else f"if {test}:")
    lines.append(INDENT + f'raise ValueError(f"unknown initialisation scheme {{{INIT}!r}}")')
    return lines
