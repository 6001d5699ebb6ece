"""Fuzz cases for the front end: generated specs and mutated bundled specs.

Shared by the in-suite fuzzer (``tests/test_fuzz.py``, a few thousand cases
in CI) and the on-demand long run (``scripts/fuzz.py``). A case is spec
text; :func:`run_case` loads it, checks every model it defines and writes
the PyTorch source of the first model that checks (code generation is where
a label that ``check`` let through would fail), under :func:`fuzz_limits` and a
bound on its CPU time. The only acceptable failure is a :class:`ResdslError`.

Specs come from two sources:

- :func:`generate`: a grammar-aware generator. Every choice goes through a
  :class:`Pick`, so the same code drives ``random.Random`` (the long run)
  and a Hypothesis ``draw`` (the suite, with shrinking). It writes
  definitions, statements, skips with options, expressions of every
  operator, and "stress" constructs known to have broken resdsl (long
  ``let`` chains, doubled strings and lists, duplicate labels, alias and
  ``use`` chains, blocks that call the previous block twice, deep symbolic
  sizes, huge numbers, keywords glued to names).
- :func:`mutate`: token edits of the bundled specs (``specs/*.res``,
  ``specs/torchvision/*.res``), including the insertion of stress fragments.
"""

from __future__ import annotations

import random
import re
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

ROOT = Path(__file__).resolve().parent.parent
SEED_FILES = sorted([*ROOT.glob("specs/*.res"), *ROOT.glob("specs/torchvision/*.res")])

T = TypeVar("T")


def fuzz_limits() -> Any:
    """Limits small enough that every case is quick, large enough to reach every limit."""
    from resdsl.semantics.elaborate import Limits

    return Limits(max_nodes=5_000, max_steps=50_000, max_depth=32)


# ---------------------------------------------------------------- running a case


class CaseTimeout(Exception):
    """A case ran past its time bound."""


@dataclass(frozen=True)
class Outcome:
    """What one case did: ``ok`` (every model checked), ``error`` (a ResdslError),
    ``crash`` (any other exception; ``detail`` says which and where) or ``timeout``."""

    status: str
    detail: str = ""


@contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in the block after ``seconds`` of CPU time (main thread, Unix).

    CPU time, not wall-clock time: a hang burns CPU, while a machine shared
    with other jobs only stretches the wall clock, so the bound means the
    same on a loaded CI machine as on a quiet one.
    """

    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout()

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def run_case(text: str, base: Path | None = None, bound: float = 10.0) -> Outcome:
    """Load ``text``, check each model and write its source, within ``bound`` seconds."""
    import resdsl
    from resdsl.diagnostics import ResdslError

    errors = 0
    written = False
    try:
        with time_bound(bound):
            spec = resdsl.loads(text, "fuzz.res", base=base, limits=fuzz_limits())
            for model in spec.models:
                try:
                    spec.summary(model)
                    if not written:  # code generation costs 4 checks: once a case
                        written = bool(spec.source(model))
                except ResdslError:
                    errors += 1
    except ResdslError:
        return Outcome("error")
    except CaseTimeout:
        return Outcome("timeout")
    except Exception as exc:  # the fuzzer's finding: anything but a ResdslError
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return Outcome("crash", f"{type(exc).__name__} at {where}: {str(exc)[:120]}")
    return Outcome("error" if errors else "ok")


# ---------------------------------------------------------------- choices


class Pick(Protocol):
    """The choices a generator makes: from a seeded ``random.Random`` or a Hypothesis draw."""

    def int(self, lo: int, hi: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...


class RandomPick:
    """Choices from ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]


class DrawPick:
    """Choices from a Hypothesis ``draw``: shrinking makes a failing spec small."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self.draw = draw

    def int(self, lo: int, hi: int) -> int:
        from hypothesis import strategies as st

        return int(self.draw(st.integers(lo, hi)))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.int(0, len(options) - 1)]


def chance(pick: Pick, percent: int) -> bool:
    return pick.int(1, 100) <= percent


# ---------------------------------------------------------------- the generator

LAYERS_1D = ["relu", "gelu", "silu", "sigmoid", "tanh", "identity", "dropout(0.1)", "flatten"]
LAYERS_IMAGE = [
    "conv({c}, 3, padding=1)",
    "conv({c}, 1)",
    "conv({c}, 3, stride=2, padding=1, bias=false)",
    "conv({c}, {k}, stride={s}, padding={p}, dilation={d})",
    "convtranspose({c}, 2, stride=2)",
    "batchnorm",
    "groupnorm(1)",
    "maxpool(2)",
    "maxpool(3, stride=2, padding=1, ceil_mode=true)",
    "avgpool(2)",
    "adaptive_avgpool(1)",
    "upsample(2)",
    "upsample(scale_factor={f})",
    "relu",
    "dropout(0.5)",
    "identity",
]
LAYERS_VECTOR = ["linear({c})", "layernorm", "relu", "embedding({c}, 4)"]
NAMES = ["a", "b", "c", "x", "y", "conv1", "bn1", "in_", "index"]
#: Names and numbers that are wrong somewhere: used now and then, not everywhere.
BAD_NAMES = ["eval", "training", "forward", "é", "in", "not", "blockx", "_resdsl_x"]
WORDS = [
    "use", "block", "model", "input", "skip", "repeat", "as", "if", "else", "let", "in",
    "true", "false", "and", "or", "not",
]  # fmt: skip
NUMBERS = ["0", "1", "2", "3", "4", "7", "16", "-1", "0.5", "2**10", "1_000", "1.", "1e-3"]
BAD_NUMBERS = ["1e308", "1e-320", "2**62", "9223372036854775807", "9223372036854775808",
               "10**30", "2.0**1024", "(-8) ** 0.5", "1 // 0"]  # fmt: skip
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "<", "<=", "==", "!=", ">", ">=", "and", "or"]


def expr(pick: Pick, names: Sequence[str], depth: int = 0) -> str:
    """An expression over ``names``, any operator, values of every type."""
    kind = pick.int(0, 12 if depth < 4 else 3)
    if kind == 0:
        return pick.choice(BAD_NUMBERS if chance(pick, 5) else NUMBERS)
    if kind == 1:
        return pick.choice([*names, "zz"]) if names else "1"
    if kind == 2:
        return pick.choice(['"a"', '""', '"relu"', "true", "false", "[]", "[1, 2]"])
    if kind == 3:
        return pick.choice(["channels(in)", "shape(in)", "len([1, 2])", "min(1, 2)", "max([3])"])
    if kind in (4, 5, 6):
        op = pick.choice(OPERATORS)
        return f"({expr(pick, names, depth + 1)} {op} {expr(pick, names, depth + 1)})"
    if kind == 7:
        return f"{expr(pick, names, depth + 1)}[{expr(pick, names, depth + 1)}]"
    if kind == 8:
        return f"[{expr(pick, names, depth + 1)}, {expr(pick, names, depth + 1)}]"
    if kind == 9:
        test = expr(pick, names, depth + 1)
        return f"({expr(pick, names, depth + 1)} if {test} else {expr(pick, names, depth + 1)})"
    if kind == 10:
        return f"({pick.choice(['-', 'not ', '+'])}({expr(pick, names, depth + 1)}))"
    if kind == 11:
        return f"{pick.choice(['len', 'min', 'max'])}({expr(pick, names, depth + 1)})"
    return f"channels({pick.choice(['in', *NAMES[:4]])})"


def layer(pick: Pick, image: bool, names: Sequence[str]) -> str:
    template = pick.choice(LAYERS_IMAGE if image else LAYERS_VECTOR + LAYERS_1D)
    c = pick.choice(["4", "8", "16", "c"] if "c" in names else ["4", "8", "16"])
    if chance(pick, 10):
        c = expr(pick, names)
    return template.format(
        c=c,
        k=pick.choice(["1", "2", "3", "5", "0"]),
        s=pick.choice(["1", "2", "3", "0"]),
        p=pick.choice(["0", "1", "2", "-1"]),
        d=pick.choice(["1", "2"]),
        f=pick.choice(["2", "0.5", "1.5", "0.3", "1e300", "3"]),
    )


def statements(
    pick: Pick, image: bool, names: list[str], blocks: Sequence[str], depth: int = 0
) -> list[str]:
    """A body: labelled and unlabelled calls, groups, repeat, if, let and skips."""
    out: list[str] = []
    labels: list[str] = []
    for i in range(pick.int(1, 6)):
        kind = pick.int(0, 9 if depth < 3 else 5)
        label = ""
        if chance(pick, 50):
            names_ = BAD_NAMES if chance(pick, 2) else NAMES
            label = pick.choice([f"l{i}", f"l{i}", *names_, "l{i}", "x{1 + 1}"])
            labels.append(label)
            label += ": "
        if kind <= 3:
            out.append(label + layer(pick, image, names))
        elif kind == 4 and blocks:
            args = ", ".join(expr(pick, names) for _ in range(pick.int(0, 2)))
            out.append(f"{label}{pick.choice(blocks)}({args})")
        elif kind == 5:
            name = f"v{depth}_{i}"
            out.append(f"let {name} = {expr(pick, names)}")
            names.append(name)
        elif kind == 6:
            body = statements(pick, image, names, blocks, depth + 1)
            var = f" as i{depth}" if chance(pick, 50) else ""
            out.append(f"repeat {pick.choice(['2', '0', '3', '-1', '2.0', 'i0'])}{var} {{")
            out += [*body, "}"]
        elif kind == 7:
            out.append(f"if {expr(pick, names)} {{")
            out += statements(pick, image, names, blocks, depth + 1)
            out.append("} else {")
            out += statements(pick, image, names, blocks, depth + 1)
            out.append("}")
        elif kind == 8:
            out.append(f"{label or 'g: '}{{")
            out += statements(pick, image, names, blocks, depth + 1)
            out.append("}")
        else:
            out.append(skip(pick, labels, blocks, names))
    if labels and chance(pick, 60):
        out.append(skip(pick, labels, blocks, names))
    return out


def skip(pick: Pick, labels: Sequence[str], blocks: Sequence[str], names: Sequence[str]) -> str:
    ends = [*labels, *labels, "l0", "zz"]
    merge = pick.choice(["add", "concat", "mul", "max", "add"])
    options = []
    if chance(pick, 40):
        options.append(f"shortcut={pick.choice(['auto', 'projection', 'zeropad', *blocks])}")
    if chance(pick, 20):
        options.append(f"align={pick.choice(['crop', 'pad', 'none'])}")
    if chance(pick, 15):
        options.append(f"scale={expr(pick, names)}")
    if chance(pick, 10):
        options.append("gate=rezero")
    label = f"{pick.choice(['sk', 'eval', 'shortcut'])}: " if chance(pick, 30) else ""
    tail = "".join(f", {o}" for o in options)
    src = "in" if chance(pick, 30) else pick.choice(ends)
    return f"{label}skip {src} -> {pick.choice(ends)} ({merge}{tail})"


def generate(pick: Pick) -> str:
    """A spec: a few blocks and models, maybe aliases, maybe a stress construct."""
    lines: list[str] = []
    blocks: list[str] = []
    for b in range(pick.int(0, 3)):
        name = f"b{b}"
        image = chance(pick, 70)
        params = pick.choice(["", "c: int", "c: int = 8", "channels: int, stride: int", "u: block"])
        names = [p.split(":")[0].strip() for p in params.split(",") if p]
        body = statements(pick, image, list(names), blocks + (["u"] if "u" in names else []))
        lines += [f"block {name}({params}) {{", *body, "}"]
        blocks.append(name)
    for m in range(pick.int(1, 2)):
        image = chance(pick, 70)
        params = pick.choice(
            ["", "c: int = 8", 'init: str = "kaiming"', 'k: int = 2, s: str = "x"']
        )
        names = [p.split(":")[0].strip() for p in params.split(",") if p]
        shape = pick.choice(
            ["[3, H=32, W=32]", "[3, 16, 16]", "[16]", "[3, H, W]", "[4, L=20]", "[3, 0]", "[]"]
            if image
            else ["[16]", "[8, 4]", "[16]"]
        )
        body = statements(pick, image, list(names), blocks)
        lines += [f"model m{m}({params}) {{", f"input {shape}", *body, "}"]
    if chance(pick, 20):
        lines.append(f"model al = m0({pick.choice(['', 'c=4', 'zz=1', 'c=channels(in)'])})")
    if chance(pick, 25):
        lines += stress(pick)
    return "\n".join(lines) + "\n"


def stress(pick: Pick) -> list[str]:
    """One construct of a kind that once crashed or hung resdsl, at a random size."""
    n = pick.choice([3, 30, 150, 400])
    kind = pick.int(0, 10)
    if kind == 0:  # a let chain
        chain = [f"let s{i + 1} = s{i} + 1" for i in range(n)]
        return ["model st() {", "input [4]", "let s0 = 1", *chain, f"linear(s{n})", "}"]
    if kind == 1:  # doubling strings or lists, then comparing them
        seed, step = pick.choice(
            [('"ab"', "{p} + {p}"), ("[1]", "[{p}, {p}]"), ("[1]", "{p} + {p}")]
        )
        m = min(n, 60)
        chain = [f"let d{i + 1} = " + step.format(p=f"d{i}") for i in range(m)]
        chain += [f"let e{i + 1} = " + step.format(p=f"e{i}") for i in range(m)]
        test = f"d{m} == e{m}" if chance(pick, 50) else f"d{m} < e{m}"
        return ["model st() {", "input [4]", f"let d0 = {seed}", f"let e0 = {seed}", *chain,
                f"linear(4 if {test} else 3)", "}"]  # fmt: skip
    if kind == 2:  # duplicate labels
        return ["model st() {", "input [4]", *(["a: relu"] * n), "}"]
    if kind == 3:  # an alias chain
        return [f"model st{i + 1} = st{i}()" for i in range(n)] + [
            "model st0() {",
            "input [4]",
            "relu",
            "}",
        ]
    if kind == 4:  # each block calls the previous one twice
        deep = min(n, 40)
        defs = [f"block e{i + 1}() {{ e{i}\ne{i} }}" for i in range(deep)]
        return ["block e0() { relu }", *defs, "model st() {", "input [4]", f"e{deep}", "}"]
    if kind == 5:  # deep symbolic sizes
        layers = pick.choice(["conv(3, 3)", "maxpool(2, ceil_mode=true)\nupsample(2)"])
        return ["model st() {", "input [3, H=4096]", *([layers] * min(n, 400)), "}"]
    if kind == 6:  # a block as its own shortcut
        return [
            "block sc(channels: int, stride: int) {",
            "c: conv(channels, 1)",
            "skip in -> c (add, shortcut=sc)",
            "}",
            "model st() {",
            "input [3, 8, 8]",
            "sc(4, 1)",
            "}",
        ]
    if kind == 7:  # numbers at and past the bounds
        big = pick.choice(["9" * 30, "2 ** 63", "1e308 * 10", "2.0 ** 2000", "(10 ** 18) ** -1"])
        return ["model st() {", "input [3, 8, 8]", f"conv({big}, 3)", "}"]
    if kind == 8:  # nested repeats of lets
        return ["model st() {", "input [4]", f"repeat {n} as i {{", f"repeat {n} as j {{",
                "let k = i * j", "}", "}", "relu", "}"]  # fmt: skip
    if kind == 9:  # keywords glued to names
        return [pick.choice(["blockq() { relu }", "modelq() {\ninput [4]\n}",
                             "model gl() {\ninput [4]\nrepeat 2 asi { relu }\n}"])]  # fmt: skip
    return ["model st() {", "input [4]", "a: relu", "b: relu", *(["skip a -> b (add)"] * n), "}"]


# ---------------------------------------------------------------- mutation

_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_]\w*(?:\{[^{}\n]*\}\w*)*|\d+(?:\.\d*)?(?:e-?\d+)?'
    r"|->|\*\*|//|[<>=!]=|\s+|.",
    re.S,
)
_INSERTED = [
    *NUMBERS, *BAD_NUMBERS, *WORDS, *BAD_NAMES, "(", ")", "{", "}", "[", "]", ",", ":", ";", "\n", "=", "->", "#",
    '"x"', "channels(in)", "shape(in)", "skip in -> 0 (add)", "repeat 3 {", "let q = 1\n",
    "eval: relu\n", "shortcut=auto", "align=crop", "scale=0.5", "é",
]  # fmt: skip


@dataclass(frozen=True)
class Seed:
    """A bundled spec to mutate: its tokens, its directory (for ``use``) and its names."""

    name: str
    tokens: tuple[str, ...]
    directory: Path


def seeds() -> list[Seed]:
    return [
        Seed(p.name, tuple(_TOKEN.findall(p.read_text(encoding="utf-8"))), p.parent)
        for p in SEED_FILES
    ]


def mutate(seed: Seed, pick: Pick) -> str:
    """``seed``'s text after one to four token edits (or a stress construct added)."""
    toks = list(seed.tokens)
    if chance(pick, 5):
        return "".join(toks) + "\n" + "\n".join(stress(pick)) + "\n"
    for _ in range(pick.int(1, 4)):
        if not toks:
            toks = [pick.choice(_INSERTED)]
        i = pick.int(0, len(toks) - 1)
        kind = pick.int(0, 6)
        if kind == 0:
            del toks[i]
        elif kind == 1:
            toks.insert(i, toks[i])
        elif kind == 2 and i + 2 < len(toks):
            toks[i], toks[i + 2] = toks[i + 2], toks[i]
        elif kind == 3:
            toks[i] = pick.choice(seed.tokens)
        elif kind == 4:
            toks.insert(i, pick.choice(_INSERTED))
        elif kind == 5:
            j = pick.int(0, len(toks) - 1)
            toks[i:i] = toks[j : j + pick.int(1, 40)]
        else:
            toks[i] = pick.choice(_INSERTED)
    return "".join(toks)
