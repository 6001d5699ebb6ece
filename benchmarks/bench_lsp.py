"""How soon after an edit does the language server publish diagnostics for specs/resnet.res?

Run on demand: ``python benchmarks/bench_lsp.py [ROUNDS]``. Two figures:

- in process: :func:`resdsl.editor.workspace.analyze` on the edited buffer (load
  with ``use`` resolved, elaborate all five ResNets, shapes, costs), median of ROUNDS;
- over stdio: ``resdsl lsp`` in a subprocess, driven by a minimal JSON-RPC client
  here: the time from sending ``didChange`` to receiving ``publishDiagnostics``,
  which includes the pipe and JSON. Edits come 200 ms apart, a pause in typing,
  so the server checks at once; edits closer together than ``resdsl.editor.server.DEBOUNCE_S`` are
  gathered into one check, that long after the previous one.

Each edit alternates between a typo (one diagnostic) and the fixed text (none),
so every round really re-checks. The target is 100 ms after the edit.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resdsl.editor.workspace import analyze  # noqa: E402

TARGET_MS = 100.0
PAUSE_S = 0.2
SPEC = ROOT / "specs" / "resnet.res"
TEXT = SPEC.read_text(encoding="utf-8")
TYPO = TEXT.replace("    bn1:   batchnorm\n", "    bn1:   batchnrom\n", 1)


def in_process(rounds: int) -> list[float]:
    analyze(SPEC, TEXT)  # warm: imports, parser tables
    times = []
    for i in range(rounds):
        text = TYPO if i % 2 == 0 else TEXT
        start = time.perf_counter()
        a = analyze(SPEC, text)
        times.append((time.perf_counter() - start) * 1000)
        assert len(a.diagnostics) == (1 if text is TYPO else 0)
    return times


def _send(pipe: IO[bytes], message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    pipe.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> dict[str, Any]:
    length = 0
    while (line := pipe.readline().strip()) != b"":
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    message: dict[str, Any] = json.loads(pipe.read(length))
    return message


def _until_diagnostics(out: IO[bytes], count: int) -> None:
    while True:
        m = _receive(out)
        if m.get("method") == "textDocument/publishDiagnostics":
            assert len(m["params"]["diagnostics"]) == count, m
            return


def over_stdio(rounds: int) -> list[float]:
    server = subprocess.Popen(
        [sys.executable, "-m", "resdsl", "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert server.stdin is not None and server.stdout is not None
    send, out = server.stdin, server.stdout
    uri = SPEC.as_uri()
    _send(send, {"id": 1, "method": "initialize", "params": {"capabilities": {}}})
    while _receive(out).get("id") != 1:
        pass
    _send(send, {"method": "initialized", "params": {}})
    doc = {"uri": uri, "languageId": "resdsl", "version": 1, "text": TEXT}
    _send(send, {"method": "textDocument/didOpen", "params": {"textDocument": doc}})
    _until_diagnostics(out, 0)
    times = []
    for i in range(rounds):
        text = TYPO if i % 2 == 0 else TEXT
        time.sleep(PAUSE_S)  # a pause in typing: then the server checks at once
        change = {
            "textDocument": {"uri": uri, "version": i + 2},
            "contentChanges": [{"text": text}],
        }
        start = time.perf_counter()
        _send(send, {"method": "textDocument/didChange", "params": change})
        _until_diagnostics(out, 1 if text is TYPO else 0)
        times.append((time.perf_counter() - start) * 1000)
    _send(send, {"id": 2, "method": "shutdown"})
    while _receive(out).get("id") != 2:
        pass
    _send(send, {"method": "exit"})
    server.wait(timeout=10)
    return times


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    calibration = min(
        (lambda s: (sum(range(100000)), time.perf_counter() - s)[1])(time.perf_counter())
        for _ in range(20)
    )
    print(f"calibration sum(range(100000)): {calibration * 1000:.2f} ms")
    local = in_process(rounds)
    print(
        f"in process, check after an edit: median {statistics.median(local):.1f} ms, "
        f"fastest {min(local):.1f} ms ({rounds} rounds)"
    )
    remote = over_stdio(rounds)
    median = statistics.median(remote)
    print(
        f"over stdio, didChange -> publishDiagnostics: median {median:.1f} ms, "
        f"fastest {min(remote):.1f} ms (edits {PAUSE_S * 1000:.0f} ms apart)"
    )
    print(f"target {TARGET_MS:.0f} ms: {'met' if median <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
