"""``python -m bench [name ...]``: run the benchmarks, print a summary table, write JSON.

With no name, every benchmark runs, each in a fresh interpreter (a LocalHub binds caches
such as settings and boto3 clients to its ports, so two hubs must not share a process),
under a hard time limit. With one name it runs in this process. Missed targets are
reported (PASS/FAIL column, ``target_met`` in the JSON), never turned into a failing exit
code; the exit code is 1 only when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.common import ROOT, read_result, result_path, say, write_result

BENCHMARKS = ("cold_start", "slice_latency", "sync_throughput", "webhook_ack", "import_throughput")
# Hard limits for a benchmark's own interpreter; each one also stops itself well before.
TIME_LIMITS_S = {
    "cold_start": 240,
    "slice_latency": 300,
    "sync_throughput": 900,
    "webhook_ack": 450,
    "import_throughput": 480,
}


def run_here(name: str) -> dict[str, Any]:
    module = importlib.import_module(f"bench.{name}")
    result: dict[str, Any] = module.main()
    path = write_result(name, result)
    say(f"{name}: results written to {path.relative_to(ROOT)}")
    return result


def run_isolated(name: str) -> tuple[dict[str, Any] | None, str | None]:
    """Run one benchmark in a child interpreter; returns (result, error)."""
    started = time.time()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)  # the hub sets its own
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench", name],
            cwd=ROOT,
            env=env,
            timeout=TIME_LIMITS_S[name],
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"killed after {TIME_LIMITS_S[name]} s"
    path = result_path(name)
    fresh = path.exists() and path.stat().st_mtime >= started
    if proc.returncode != 0 or not fresh:
        return None, f"exit code {proc.returncode}" + ("" if fresh else " (no new result)")
    return read_result(name), None


def _rows(name: str, result: dict[str, Any] | None, error: str | None) -> list[tuple[str, str, str, str, str]]:
    if result is None:
        return [(name, "(did not run)", error or "?", "", "ERROR")]
    rows = []
    for check in result.get("summary", []):
        met = check.get("met")
        verdict = "—" if met is None else ("PASS" if met else "FAIL")
        rows.append((name, str(check["metric"]), str(check["value"]), str(check.get("target") or ""), verdict))
    rows.append(
        (name, "all targets met", str(result.get("target_met")), "", "PASS" if result.get("target_met") else "FAIL")
    )
    return rows


def print_table(outcomes: dict[str, tuple[dict[str, Any] | None, str | None]]) -> None:
    rows = [row for name, (result, error) in outcomes.items() for row in _rows(name, result, error)]
    headers = ("benchmark", "metric", "value", "target", "result")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
        print(line)
        print("-" * len(line))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        return
    table = Table(title="crmhub benchmarks", show_lines=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    style = {"PASS": "green", "FAIL": "red", "ERROR": "bold red"}
    previous = None
    for row in rows:
        name = row[0] if row[0] != previous else ""
        previous = row[0]
        verdict = f"[{style[row[4]]}]{row[4]}[/]" if row[4] in style else row[4]
        table.add_row(name, row[1], row[2], row[3], verdict)
    Console().print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help="any of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from {', '.join(BENCHMARKS)})")
    names = list(dict.fromkeys(args.names)) or list(BENCHMARKS)
    outcomes: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    started = time.perf_counter()
    if len(names) == 1:
        try:
            outcomes[names[0]] = (run_here(names[0]), None)
        except Exception as exc:  # report it like a benchmark that did not run
            outcomes[names[0]] = (None, f"{type(exc).__name__}: {exc}")
            print_table(outcomes)
            raise
    else:
        for name in names:
            say(f"=== {name} (own interpreter, at most {TIME_LIMITS_S[name]} s)")
            outcomes[name] = run_isolated(name)
    print_table(outcomes)
    say(f"benchmarks done in {time.perf_counter() - started:.0f} s; results in {result_path('x').parent}")
    return 0 if all(error is None for _, error in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
