"""Names a generated PyTorch module reserves: labels that cannot name its children.

A label becomes a child module's attribute name (``self.conv1``), so it cannot
be one of ``nn.Module``'s own attributes. The front end refuses such labels
where they are written, so that whatever ``check`` accepts also compiles; the
code generator keeps the same rule as its own guard.

>>> label_problem("eval", in_model=False)
"'eval' is already an attribute of a PyTorch module"
>>> label_problem("conv1", in_model=True) is None
True
"""

from __future__ import annotations

import re

#: Attributes of ``nn.Module`` (torch 2.x): a child module cannot take these
#: names (``add_module`` refuses them, and ``self.training`` must stay a bool).
MODULE_ATTRIBUTES = frozenset(
    {
        "T_destination",
        "_apply",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_buffers",
        "_call_impl",
        "_compiled_call_impl",
        "_forward_hooks",
        "_forward_hooks_always_called",
        "_forward_hooks_with_kwargs",
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
        "_get_backward_hooks",
        "_get_backward_pre_hooks",
        "_get_name",
        "_is_full_backward_hook",
        "_load_from_state_dict",
        "_load_state_dict_post_hooks",
        "_load_state_dict_pre_hooks",
        "_maybe_warn_non_full_backward_hook",
        "_modules",
        "_named_members",
        "_non_persistent_buffers_set",
        "_parameters",
        "_register_load_state_dict_pre_hook",
        "_register_state_dict_hook",
        "_replicate_for_data_parallel",
        "_save_to_state_dict",
        "_slow_forward",
        "_state_dict_hooks",
        "_state_dict_pre_hooks",
        "_version",
        "_wrapped_call_impl",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    }
)

#: Attributes the generated model class adds (``model.code`` is set by
#: :func:`resdsl.backends.build.compile_graph`), so model-level labels cannot use them.
MODEL_ATTRIBUTES = frozenset({"code"})

#: The generated model class keeps resdsl's own attributes under this prefix.
MODEL_PREFIX = "_resdsl"

_ASCII_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def label_syntax_problem(name: str, quoted: bool) -> tuple[str, str] | None:
    """Why ``name`` cannot be written as a label, with a hint; None if it can.

    An unquoted label is an ASCII identifier; a quoted one any name PyTorch
    accepts for a submodule: not empty and without '.', which separates module paths.

    >>> label_syntax_problem("block1-0", quoted=True) is None
    True
    >>> label_syntax_problem("block1-0", quoted=False)[0]
    "label 'block1-0' is not a valid name"
    """
    if quoted:
        if not name:
            return "a quoted label cannot be empty", "write the module's name between the quotes"
        if "." in name:
            return (
                f"label '{name}' cannot name a module: it contains '.'",
                "PyTorch separates module paths with '.': use another character, such as '_'",
            )
        return None
    if _ASCII_IDENTIFIER.match(name):
        return None
    return (
        f"label '{name}' is not a valid name",
        f"to name a module '{name}', write the label in quotes: \"{name}\"",
    )


def label_problem(name: str, *, in_model: bool) -> str | None:
    """Why ``name``, a label that :func:`label_syntax_problem` accepts, cannot name a
    child module (of the model class when ``in_model``): one of PyTorch's attributes."""
    reserved = name in MODULE_ATTRIBUTES
    if in_model and (name in MODEL_ATTRIBUTES or name.startswith(MODEL_PREFIX)):
        reserved = True
    if reserved or (name.startswith("__") and name.endswith("__")):
        return f"'{name}' is already an attribute of a PyTorch module"
    return None


#: Weight initialisation schemes a model's ``init`` parameter may name.
INIT_SCHEMES = ("default", "kaiming")


def init_problem(name: str, value: object) -> str | None:
    """Why ``value`` is no value for the model parameter ``name`` (``init``,
    ``zero_init_residual``), which the back ends read; None when it is fine.

    >>> init_problem("init", "kaiminq")
    "unknown initialisation scheme 'kaiminq': init is one of 'default', 'kaiming'"
    >>> init_problem("zero_init_residual", True) is None
    True
    """
    if name == "init" and (not isinstance(value, str) or value not in INIT_SCHEMES):
        schemes = ", ".join(repr(s) for s in INIT_SCHEMES)
        return f"unknown initialisation scheme {value!r}: init is one of {schemes}"
    if name == "zero_init_residual" and not isinstance(value, bool):
        return f"zero_init_residual must be a bool, got {value!r}"
    return None
