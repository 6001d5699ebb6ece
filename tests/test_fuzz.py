"""The in-suite fuzzer: a few thousand specs, each a ResdslError or a clean check, in time.

Specs come from ``tests/fuzzing.py``: a grammar-aware Hypothesis strategy
(derandomised, so CI runs the same cases; a failure shrinks to a small spec)
and token mutations of the bundled specs (seeded). Each case loads the spec,
checks every model and writes a model's source under small limits, with a
per-case bound of :data:`BOUND` seconds of CPU time far above what a case
takes (milliseconds): a case past it is a hang, whatever the machine's load. The
long run is ``python scripts/fuzz.py --cases 100000`` (benchmarks/README.md).
"""

from __future__ import annotations

import gc
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzzing

BOUND = 10.0
MUTATIONS = 1_200
GENERATED = 800

pytestmark = pytest.mark.slow


@st.composite
def specs(draw: st.DrawFn) -> str:
    return fuzzing.generate(fuzzing.DrawPick(draw))


@settings(
    max_examples=GENERATED,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(specs())
def test_generated_specs_check_or_fail_with_a_resdsl_error_in_time(text: str) -> None:
    outcome = fuzzing.run_case(text, None, BOUND)
    assert outcome.status in ("ok", "error"), f"{outcome.status}: {outcome.detail}\n{text}"


def test_mutated_bundled_specs_check_or_fail_with_a_resdsl_error_in_time() -> None:
    gc.collect()  # not inside a timed case: what earlier tests left behind
    seeds = fuzzing.seeds()
    assert {s.name for s in seeds} >= {"resnet.res", "unet.res", "efficientnet.res"}
    findings = []
    statuses: dict[str, int] = {}
    for index in range(MUTATIONS):
        pick = fuzzing.RandomPick(random.Random(f"suite:{index}"))
        seed = pick.choice(seeds)
        text = fuzzing.mutate(seed, pick)
        outcome = fuzzing.run_case(text, seed.directory, BOUND)
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        if outcome.status not in ("ok", "error"):
            findings.append(f"case {index} ({seed.name}): {outcome.status} {outcome.detail}")
    assert findings == []
    # The mutations are small: some mutants still check, most are errors.
    assert statuses["ok"] > 0 and statuses["error"] > statuses["ok"]


def test_the_fuzzer_reports_other_exceptions_and_hangs() -> None:
    """The harness itself: a crash and a timeout are findings, not passes."""
    assert fuzzing.run_case("model m() {\n    input [4]\n    relu\n}\n").status == "ok"
    assert fuzzing.run_case("model m() {\n    relu\n}\n").status == "error"
    with fuzzing.time_bound(0.05):
        pass  # a bound that is not reached changes nothing
    try:
        with fuzzing.time_bound(0.05):
            while True:  # burns CPU time, as a hang does
                pass
    except fuzzing.CaseTimeout:
        pass
    else:  # pragma: no cover
        raise AssertionError("the time bound did not fire")
