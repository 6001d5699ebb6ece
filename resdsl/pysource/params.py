"""``param NAME [dims] = INIT`` as the ``nn.Parameter`` line torchvision writes.

A ``param`` is a learnable tensor of the scope it is declared in: its
``state_dict`` key is ``NAME`` on that scope's module, as ConvNeXt's
``layer_scale`` and ViT's ``class_token``. Its sizes and initial value are
the spec's expressions, so one class serves every instance:
``self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * scale)`` (torchvision's
own line), ``torch.zeros(1, 1, hidden_dim)``, and ``normal(std)`` as
``torch.empty(...).normal_(std=std)``, which draws from the generator exactly as
the per-instance source does (:func:`resdsl.backends.codegen.param_source`).
"""

from __future__ import annotations

from resdsl.pysource.pyexpr import IDENT, Scope, Unsupported, python_expr
from resdsl.syntax import ast

#: Initial values written as a bare word, and the torch factory each one is.
_FACTORIES = {"zeros": "torch.zeros", "ones": "torch.ones"}


def param_line(stmt: ast.ParamDecl, scope: Scope, taken: frozenset[str] | set[str]) -> str:
    """The ``__init__`` line of a ``param``.

    >>> from resdsl.source import SourceFile
    >>> span = SourceFile("t.res", "x").span(0, 1)
    >>> dims = (ast.Name("dim", span), ast.Num(1, span))
    >>> stmt = ast.ParamDecl("scale", span, dims, ast.Name("ones", span), span)
    >>> param_line(stmt, Scope({"dim": "dim"}), set())
    'self.scale = nn.Parameter(torch.ones(dim, 1))'
    """
    if not IDENT.match(stmt.name) or stmt.name in taken or stmt.name in scope.names:
        raise Unsupported(f"the param name '{stmt.name}'")
    return f"self.{stmt.name} = nn.Parameter({initial_value(stmt, scope)})"


def initial_value(stmt: ast.ParamDecl, scope: Scope) -> str:
    """The tensor a ``param`` starts as, from its sizes and INIT."""
    sizes = ", ".join(python_expr(d, scope) for d in stmt.dims)
    init = stmt.init
    if isinstance(init, ast.Name) and init.id in _FACTORIES and init.id not in scope.names:
        return f"{_FACTORIES[init.id]}({sizes})"
    if isinstance(init, ast.FuncCall) and init.func == "normal" and len(init.args) == 1:
        return f"torch.empty({sizes}).normal_(std={python_expr(init.args[0], scope)})"
    if isinstance(init, ast.Num):
        if float(init.value) in (0.0, 1.0):
            return f"torch.{'zeros' if float(init.value) == 0.0 else 'ones'}({sizes})"
        shape = f"({sizes},)" if len(stmt.dims) == 1 else f"({sizes})"
        return f"torch.full({shape}, {float(init.value)!r})"
    # A computed fill, as torchvision writes ConvNeXt's: ones scaled by the value
    # (1.0 times a float is that float in float32, so the elements equal torch.full's).
    return f"torch.ones({sizes}) * {python_expr(init, scope)}"
