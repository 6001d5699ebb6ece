"""Input that once crashed, hung or surprised resdsl: each now a located ResdslError.

One test per mechanism (issue: "What new users and a fuzzer hit"): the bound
or the linear algorithm that replaced the crash or the hang, tested at its
edge where the edge is a documented limit. Each asserts the exact code,
message and location. ``tests/test_fuzz.py`` hunts for the ones not yet known.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import resdsl
from resdsl.diagnostics import MAX_HINT_CANDIDATES, Diagnostic, ResdslError, did_you_mean
from resdsl.semantics.assembly import GraphBuilder
from resdsl.semantics.elaborate import Limits
from resdsl.semantics.expr import MAX_LET_CHAIN, MAX_LIST, MAX_STRING, list_size


def first_error(text: str, limits: Limits | None = None, **params: object) -> tuple[str, str, str]:
    """(code, message, "line:column") of the first diagnostic of checking ``text``'s model."""
    with pytest.raises(ResdslError) as info:
        spec = resdsl.loads(text, limits=limits)
        spec.summary(**params)
    d: Diagnostic = info.value.diagnostics[0]
    where = f"{d.span.line}:{d.span.column}" if d.span is not None else "-"
    return d.code, d.message, where


def model(*lines: str, input: str = "[4]") -> str:
    return "model m() {\n    input " + input + "\n" + "".join(f"    {s}\n" for s in lines) + "}\n"


# ---------------------------------------------------------------- expressions


def test_a_let_chain_past_its_bound_is_an_error_not_a_recursion_error() -> None:
    lets = [f"let a{i + 1} = a{i} + 1" for i in range(300)]
    code, message, where = first_error(model("let a0 = 1", *lets, "linear(a300)"))
    assert (code, message) == (
        "too-deep",
        f"this value depends on a chain of more than {MAX_LET_CHAIN} 'let' values, "
        "or on values nested too deeply",
    )
    # Forcing runs from a300 down: the 101st value forced is a200, on line 3 + 200.
    assert where == "203:16"


def test_a_let_chain_within_the_bound_is_fine() -> None:
    lets = [f"let a{i + 1} = a{i} + 1" for i in range(MAX_LET_CHAIN - 1)]  # a0..a99: 100
    summary = resdsl.loads(model("let a0 = 1", *lets, f"linear(a{MAX_LET_CHAIN - 1})")).summary()
    assert summary.output_shape == (MAX_LET_CHAIN,)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("2.0 ** 2000", "this power is too large"),
        ("1.5 ** (10 ** 18)", "this power is too large"),
        ("2 ** 65", "this power is too large (more than 64 bits)"),
        ("2 ** 64", "this number is too large (more than 64 bits)"),
    ],
)
def test_powers_that_overflow_are_errors(expression: str, message: str) -> None:
    assert first_error(model(f"linear(4 if {expression} > 0 else 3)")) == (
        "number-too-large",
        message,
        "3:17",
    )


def test_integer_literals_are_held_to_64_bits() -> None:
    assert first_error(model("linear(9223372036854775808)")) == (
        "syntax",
        "this number is too large (more than 64 bits)",
        "3:12",
    )
    # The largest 64-bit integer is a number like any other (refused later as a size).
    assert first_error(model("linear(9223372036854775807)"))[0] == "too-large"


@pytest.mark.parametrize(
    ("test", "message"),
    [
        ('[1, "a"] < [1, true]', "cannot compare str and bool with '<'"),
        ('[[1]] >= [["a"]]', "cannot compare int and str with '>='"),
        ("true < false", "cannot compare bool and bool with '<'"),
    ],
)
def test_ordering_values_of_mixed_types_is_a_type_error(test: str, message: str) -> None:
    assert first_error(model(f"linear(4 if {test} else 3)")) == ("type", message, "3:17")


def test_lists_order_item_by_item_as_in_python() -> None:
    spec = resdsl.loads(model('linear(4 if [1, "b"] < [1, "c"] and [2] > [1, 9] else 3)'))
    assert spec.summary().output_shape == (4,)


def test_doubling_a_string_stops_at_the_string_bound() -> None:
    lets = [f"let s{i + 1} = s{i} + s{i}" for i in range(30)]
    code, message, where = first_error(model('let s0 = "ab"', *lets, "linear(len(s30))"))
    assert (code, message) == (
        "too-large",
        f"this string is too long (more than {MAX_STRING:,} characters)",
    )
    assert where == "19:15"  # s16: 2 * 2**16 = 131,072 characters


def test_lists_sharing_sublists_are_bounded_by_their_items_counted_with_repeats() -> None:
    lets = [f"let a{i + 1} = [a{i}, a{i}]\n    let b{i + 1} = [b{i}, b{i}]" for i in range(40)]
    text = model("let a0 = [1]", "let b0 = [1]", *lets, "linear(4 if a40 == b40 else 3)")
    code, message, where = first_error(text)
    assert (code, message) == (
        "too-large",
        f"this list is too large (more than {MAX_LIST:,} items, counting nested lists)",
    )
    assert where == "35:15"  # a16: 2 ** 17 - 2 items, counted as comparing would visit them


def test_list_size_counts_shared_sublists_each_time_and_stops_past_the_limit() -> None:
    inner = [1, 2]
    assert list_size([inner, [inner], 3]) == (8, 3)
    huge: list[object] = [0]
    for _ in range(60):  # 2**60 items if counted in full
        huge = [huge, huge]
    count, _ = list_size(huge)
    assert MAX_LIST < count <= 2 * MAX_LIST + 2


def test_lists_nest_at_most_64_deep() -> None:
    lets = [f"let l{i + 1} = [[[[l{i}]]]]" for i in range(20)]
    assert first_error(model("let l0 = [1]", *lets, "linear(len(l20))")) == (
        "too-deep",
        "this list nests lists more than 64 levels deep",
        "19:15",  # l16: 1 + 4 * 16 levels
    )


def test_shapes_before_anything_is_built_are_an_error_not_an_internal_exception() -> None:
    text = "model m(c: int = 3) {\n    input [4]\n    linear(c)\n}\nmodel a = m(c=channels(in))\n"
    with pytest.raises(ResdslError) as info:
        resdsl.loads(text).summary("a")
    d = info.value.diagnostics[0]
    assert (d.code, d.message, d.span.line if d.span else 0) == (
        "shape-unavailable",
        "shapes are not available here: nothing is built yet",
        5,
    )


# ---------------------------------------------------------------- sizes


def test_an_upsample_to_an_infinite_size_is_a_shape_error() -> None:
    code, message, where = first_error(model("upsample(scale_factor=1e308)", input="[3, 8, 8]"))
    assert (code, where) == ("shape", "3:27")
    assert message == (
        "upsample cannot take an input of shape [3, 8, 8]: the output size 8 * 1e+308 in "
        "spatial dimension 1 is too large (more than 64 bits)"
    )


def test_symbolic_sizes_are_computed_through_at_most_max_size_depth_layers() -> None:
    limits = Limits(max_size_depth=10)
    ok = model(*["conv(3, 3)"] * 10, input="[3, H=64]")
    summary = resdsl.loads(ok, limits=limits).summary()
    assert summary.output_text == "[3, H-20]"
    deep = model(*["conv(3, 3)"] * 11, input="[3, H=64]")
    assert first_error(deep, limits) == (
        "too-deep",
        "this size is computed from the input's symbolic size through more than 10 "
        "size-changing layers",
        "13:5",
    )


def test_a_thousand_deep_symbolic_size_is_refused_at_the_default_bound() -> None:
    text = model(
        *["conv(3, 3, padding=2)\n    maxpool(2, ceil_mode=true)"] * 500, input="[3, H=64]"
    )
    code, _, where = first_error(text)
    assert (code, where) == ("too-deep", "103:5")  # the 101st size-changing layer


def test_parameters_and_value_sizes_are_bounded() -> None:
    huge_channels = model("conv(300000, 3)", "conv(300000, 3)", input="[3, 8, 8]")
    assert first_error(huge_channels) == (
        "too-large",
        "the model has more than 20,000,000,000 parameters up to here",
        "4:5",
    )
    assert first_error(model("relu", input="[3, 100000, 100000]")) == (
        "too-large",
        "this value has 30,000,000,000 elements, more than 17,179,869,184",
        "2:5",
    )


# ---------------------------------------------------------------- elaboration work


def test_statements_expanded_are_bounded_even_when_they_build_nothing() -> None:
    text = model("repeat 100000 as i {", "repeat 100000 as j {", "let k = i * j", "}", "}", "relu")
    assert first_error(text, Limits(max_steps=10_000)) == (
        "too-many-steps",
        "elaborating this model expands more than 10,000 statements",
        "5:5",
    )
    assert first_error(model("repeat 100000 { repeat 100000 { } }", "relu"))[0] == (
        "too-many-steps"
    )


def test_stamping_refuses_a_copy_past_the_node_limit_before_copying() -> None:
    # Each block calls the previous one twice: 2 ** 12 relus.
    blocks = "block e0() { relu }\n" + "".join(
        f"block e{i + 1}() {{\n    e{i}\n    e{i}\n}}\n" for i in range(12)
    )
    text = blocks + model("e12")
    el_limits = Limits(max_nodes=1_000)
    code, message, where = first_error(text, el_limits)
    assert (code, message) == ("too-many-nodes", "this model elaborates into more than 1,000 nodes")
    # e10 calls e9 (512 relus) twice: the copy of the second call would pass 1,000.
    assert where == "40:5"


def test_fresh_ids_do_not_search_from_the_start_each_time() -> None:
    builder = GraphBuilder(Limits())
    from resdsl.semantics.context import POISON, Scope
    from resdsl.semantics.expr import Env
    from resdsl.syntax.loader import load_text

    scope = Scope("", POISON, Env(), load_text(model("relu")))
    names = []
    for _ in range(4):
        names.append(builder.add_node(builder.fresh_id("a"), scope))
    builder.add_node("b", scope)
    assert names == ["a", "a2", "a3", "a4"]
    assert builder._suffixes == {"a": 4}


def test_thousands_of_duplicate_labels_give_one_error_each() -> None:
    with pytest.raises(ResdslError) as info:
        resdsl.loads(model(*["a: relu"] * 3000)).summary()
    assert len(info.value.diagnostics) == 2999
    assert {d.code for d in info.value.diagnostics} == {"duplicate-name"}


def test_did_you_mean_compares_a_bounded_number_of_candidates() -> None:
    names = [f"block_{i}" for i in range(5000)] + ["batchnorm"]
    assert did_you_mean("batchnrom", names) == "did you mean 'batchnorm'?"
    assert did_you_mean("block_4998x", names) == "did you mean 'block_4998'?"
    from resdsl.diagnostics import _nearest_by_length

    assert len(list(_nearest_by_length("block_1", set(names)))) == MAX_HINT_CANDIDATES


# ---------------------------------------------------------------- nesting


def test_a_block_as_its_own_shortcut_is_recursion() -> None:
    own = (
        "block b(channels: int, stride: int) {\n    c: conv(channels, 1)\n"
        "    skip in -> c (add, shortcut=b)\n}\n" + model("b(4, 1)", input="[3, 8, 8]")
    )
    assert first_error(own) == ("recursion", "block 'b' is its own shortcut: b -> b", "3:5")
    mutual = (
        "block a(channels: int, stride: int) {\n    c: conv(channels, 1)\n"
        "    skip in -> c (add, shortcut=b)\n}\n"
        "block b(channels: int, stride: int) {\n    c: conv(channels, 1)\n"
        "    skip in -> c (add, shortcut=a)\n}\n" + model("a(4, 1)", input="[3, 8, 8]")
    )
    assert first_error(mutual) == (
        "recursion",
        "block 'a' is its own shortcut: a -> b -> a",
        "7:5",
    )


def test_alias_chains_are_bounded_by_max_depth() -> None:
    aliases = "".join(f"model m{i + 1} = m{i}()\n" for i in range(70))
    text = "model m0() {\n    input [4]\n    relu\n}\n" + aliases
    spec = resdsl.loads(text)
    assert spec.summary("m64").output_shape == (4,)
    with pytest.raises(ResdslError) as info:
        spec.summary("m70")
    d = info.value.diagnostics[0]
    assert (d.code, d.message, d.span.line if d.span else 0) == (
        "too-deep",
        "model 'm70' is an alias of an alias ... more than 64 deep",
        4 + 70 - 64,
    )


def test_use_chains_are_bounded(tmp_path: Path) -> None:
    for i in range(70):
        (tmp_path / f"f{i}.res").write_text(f'use "f{i + 1}.res"\nblock b{i}() {{ relu }}\n')
    (tmp_path / "f70.res").write_text(model("relu"))
    with pytest.raises(ResdslError) as info:
        resdsl.load(tmp_path / "f0.res")
    d = info.value.diagnostics[0]
    assert (d.code, d.message, str(d.span)) == (
        "too-deep",
        "files 'use' files more than 64 deep here",
        "f64.res:1:1",
    )


# ---------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        ("blockb() { relu }\n", "unexpected name 'blockb': expected a definition "
         "('block', 'model' or 'use')", "1:1"),
        ("modelnet() {\n    input [4]\n}\n", "unexpected name 'modelnet': expected a "
         "definition ('block', 'model' or 'use')", "1:1"),
        (model("repeat 2 asi { relu }"), "unexpected name 'asi': expected an operator, "
         "'as' or '{'", "3:14"),
    ],
)  # fmt: skip
def test_keywords_glued_to_names_are_names(text: str, message: str, where: str) -> None:
    assert first_error(text) == ("syntax", message, where)


def test_keywords_still_work_beside_names() -> None:
    text = model("repeat 2 as i { linear(4 if i >= 0 and not false or true else 3) }")
    assert resdsl.loads(text).summary().output_shape == (4,)


def test_error_recovery_parses_a_long_text_again_only_within_a_budget() -> None:
    good = "    skip a -> b (add)\n"
    bad = "    skip a -> (add)\n"
    body = ["    a: relu\n", "    b: relu\n"] + [
        bad if i % 500 == 0 else good for i in range(10_000)
    ]
    long_text = "model m() {\n    input [4]\n" + "".join(body) + "}\n"
    with pytest.raises(ResdslError) as info:
        resdsl.loads(long_text)
    assert [d.span.line for d in info.value.diagnostics if d.span] == [5]
    short = model("a: relu", "b: relu", bad.strip(), good.strip(), bad.strip())
    with pytest.raises(ResdslError) as info:
        resdsl.loads(short)
    assert [d.span.line for d in info.value.diagnostics if d.span] == [5, 7]


# ---------------------------------------------------------------- check accepts, compile builds


@pytest.mark.parametrize("label", ["eval", "training", "forward", "state_dict", "__init__"])
def test_labels_that_name_module_attributes_are_refused_by_check(label: str) -> None:
    assert first_error(model(f"{label}: linear(3)")) == (
        "reserved-label",
        f"the label '{label}' cannot name a module: '{label}' is already an attribute of "
        "a PyTorch module",
        "3:5",
    )


def test_reserved_labels_of_skips_and_interpolated_labels_are_refused() -> None:
    skip = model("a: linear(4)", "b: linear(4)", "eval: skip a -> b (add)")
    assert first_error(skip)[:2] == (
        "reserved-label",
        "the skip label 'eval' cannot name a module: 'eval' is already an attribute of a "
        "PyTorch module",
    )
    unicode = model('x{"é"}: linear(4)')
    assert first_error(unicode)[:2] == ("bad-label", "label 'xé' is not a valid name")
    # A quoted label may be any module name; a reserved one is still refused.
    assert resdsl.loads(model('"xé": linear(4)')).summary().output_shape == (4,)
    quoted_skip = model("a: linear(4)", "b: linear(4)", '"training": skip a -> b (add)')
    assert first_error(quoted_skip)[0] == "reserved-label"
    # `code` is reserved in the model's own class only.
    block = "block u() {\n    code: linear(4)\n}\n" + model("u")
    assert resdsl.loads(block).summary().output_shape == (4,)


def test_an_init_value_compile_would_refuse_is_refused_by_check() -> None:
    text = 'model m(init: str = "kaiminq") {\n    input [4]\n    linear(3)\n}\n'
    assert first_error(text) == (
        "bad-init",
        "unknown initialisation scheme 'kaiminq': init is one of 'default', 'kaiming'",
        "1:21",
    )
    good = text.replace("kaiminq", "kaiming")
    assert first_error(good, init="x")[1:] == (
        "unknown initialisation scheme 'x': init is one of 'default', 'kaiming'",
        "1:9",
    )
    flag = "model m(zero_init_residual: int = 1) {\n    input [4]\n    linear(3)\n}\n"
    assert first_error(flag)[1:] == ("zero_init_residual must be a bool, got 1", "1:35")


def test_a_file_without_a_model_says_so_at_a_location() -> None:
    with pytest.raises(ResdslError) as info:
        resdsl.loads("block b() { relu }\n", "lib.res").summary()
    assert str(info.value) == (
        "lib.res:1:1: error: this file defines no model\n"
        "    1 | block b() { relu }\n"
        "      | ^\n"
        "  hint: add a 'model', or 'use' this file from one that has a model"
    )


# ---------------------------------------------------------------- the command line


def test_ctrl_c_ends_the_command_with_130_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import resdsl.cli as cli

    def interrupted() -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_load_app", interrupted)
    monkeypatch.setattr(sys, "argv", ["resdsl", "check", "x.res"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 130
    assert capsys.readouterr().err == "interrupted\n"
