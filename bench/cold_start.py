"""Cold start: how long importing each Lambda handler takes in a fresh interpreter.

For every function of ``template.yaml`` (``functions/<folder>/app.py``) we start a new
Python interpreter with the environment Lambda would give it (the template's variables as
the local runtime resolves them, a region, fake credentials, the function name, the layer
folders on ``PYTHONPATH``) and time ``import functions.<folder>.app`` inside it, three
times; the median is reported. ``import boto3`` alone, timed the same way in the same run,
is the baseline (Lambda ships boto3, and every handler needs it): the target is that each
handler adds at most 150 ms on top of it.

The slowest handler is then imported once more under ``python -X importtime`` and the
modules with the largest cumulative import time are listed (plus the top-level packages
by their own import time), so it is clear what to defer.

No network: AWS_ENDPOINT_URL points at a closed local port and the instance metadata
service is disabled, so an accidental call at import time fails fast instead of hanging.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, TEMPLATE, Check, all_met, machine, median, now_iso, say

NAME = "cold_start"
RUNS = 3
TARGET_OVER_BASELINE_MS = 150.0
TOP_IMPORTS = 10
SUBPROCESS_TIMEOUT_S = 60

# Installed in the dev virtualenv (aws-sam-cli, flask, typer...) but neither in the Lambda
# python3.13 runtime nor in the dependency layer (layers/dependencies/requirements.txt).
# Libraries import them opportunistically when present (httpx → rich/click for its CLI,
# botocore → awscrt, urllib3 → pyOpenSSL), so the Lambda-like runs hide them.
DEV_ONLY_PACKAGES = ("rich", "click", "pygments", "awscrt", "_awscrt", "OpenSSL")

# Lambda's own boto3/botocore/s3transfer (and the standard library) come byte-compiled.
# The layers carry .pyc only when `sam build` found a python3.13 to write them
# (layers/compile_bytecode.sh); without one, /opt being read-only, every other module is
# compiled from source at every cold start: the "without_bytecode_cache" variant.
RUNTIME_COMPILED = ("boto3", "botocore", "s3transfer")

_HIDE = (
    "import sys as _sys\n"
    "class _Hide:\n"
    "    names = frozenset({hidden!r})\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] in self.names:\n"
    "            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)\n"
    "_sys.meta_path.insert(0, _Hide())\n"
)
_NO_PYC = (
    "import sys as _sys, sysconfig as _sc, importlib.machinery as _m\n"
    "class _Compile(_m.SourceFileLoader):\n"
    "    def get_code(self, fullname):\n"
    "        return self.source_to_code(self.get_data(self.path), self.path)\n"
    "class _NoPyc:\n"
    "    stdlib = _sc.get_paths()['stdlib']\n"
    "    keep = frozenset({compiled!r})\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] in self.keep:\n"
    "            return None\n"
    "        spec = _m.PathFinder.find_spec(name, path, target)\n"
    "        if spec is None or type(spec.loader) is not _m.SourceFileLoader:\n"
    "            return None\n"
    "        if spec.origin.startswith(self.stdlib) and 'site-packages' not in spec.origin:\n"
    "            return None\n"
    "        spec.loader = _Compile(spec.loader.name, spec.loader.path)\n"
    "        return spec\n"
    "_sys.meta_path.insert(0, _NoPyc())\n"
)
_TIMER = (
    "import time as _t\n"
    "_s = _t.perf_counter()\n"
    "import {module}\n"
    "print('BENCH_IMPORT_MS', (_t.perf_counter() - _s) * 1000.0)\n"
)

# How a measurement is taken: which dev-only packages are hidden, whether .pyc are used.
VARIANTS: dict[str, dict[str, Any]] = {
    "lambda_like": {"hidden": DEV_ONLY_PACKAGES, "no_pyc": False},
    "lambda_like_no_pyc": {"hidden": DEV_ONLY_PACKAGES, "no_pyc": True},
    "dev_venv": {"hidden": (), "no_pyc": False},
}


def _script(module: str, variant: str = "lambda_like", timer: bool = True) -> str:
    spec = VARIANTS[variant]
    prelude = _HIDE.format(hidden=tuple(spec["hidden"])) if spec["hidden"] else ""
    if spec["no_pyc"]:
        prelude += _NO_PYC.format(compiled=RUNTIME_COMPILED)
    return prelude + (_TIMER.format(module=module) if timer else f"import {module}\n")


def handler_modules() -> dict[str, dict[str, Any]]:
    """Logical id → module, function name and environment, read from the template."""
    from local.runtime.template import load_template

    model = load_template(TEMPLATE, {})
    return {
        logical_id: {
            "module": fn.module_name,
            "function_name": fn.function_name,
            "memory_size": fn.memory_size,
            "environment": dict(fn.environment),
        }
        for logical_id, fn in model.functions.items()
    }


def layer_paths() -> list[str]:
    """The folders Lambda would put on the path: the code (repo root) and each layer."""
    from local.runtime.template import load_template

    model = load_template(TEMPLATE, {})
    paths = [str(ROOT)]
    for layer in model.layers.values():
        folder = (ROOT / layer.content_uri).resolve()
        for candidate in (folder / "python", folder):
            if candidate.is_dir():
                paths.append(str(candidate))
                break
    return paths


def lambda_environment(function_env: dict[str, str], function_name: str = "", memory: int = 512) -> dict[str, str]:
    """What a Lambda process sees (minus the runtime's own internals)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "PYTHONPATH": os.pathsep.join(layer_paths()),
        "PYTHONDONTWRITEBYTECODE": "1",  # the warm-up run wrote the .pyc files already
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # closed port: no I/O may leave the host
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_HANDLER": "app.lambda_handler",
        **function_env,
    }
    if function_name:
        # Powertools enables the X-Ray tracer only inside Lambda (this variable): Tracing is
        # Active in the template, so the tracer's import cost belongs to the cold start.
        env["AWS_LAMBDA_FUNCTION_NAME"] = function_name
    return env


def _timed_import(command: list[str], cwd: Path, env: dict[str, str], label: str) -> float:
    """Run a ``_TIMER`` script and return the milliseconds it printed."""
    proc = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False
    )
    match = re.search(r"BENCH_IMPORT_MS ([0-9.]+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"importing {label} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return float(match.group(1))


def time_import(module: str, env: dict[str, str], variant: str = "lambda_like") -> float:
    """Milliseconds to import ``module`` in a fresh interpreter."""
    return _timed_import([sys.executable, "-c", _script(module, variant)], ROOT, env, module)


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_profile(module: str, env: dict[str, str], variant: str = "lambda_like") -> list[dict[str, Any]]:
    """``python -X importtime`` rows: module, self and cumulative microseconds, depth."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _script(module, variant, timer=False)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append(
                {
                    "module": name,
                    "self_us": int(self_us),
                    "cumulative_us": int(cumulative_us),
                    "depth": len(indent) // 2,
                }
            )
    return rows


def _with_parents(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``parent`` (the importing module) to ``-X importtime`` rows (children come first)."""
    out = [dict(r, parent=None) for r in rows]
    pending: list[dict[str, Any]] = []  # rows waiting for a shallower row (their parent)
    for row in out:
        while pending and pending[-1]["depth"] > row["depth"]:
            pending.pop()["parent"] = row["module"]
        pending.append(row)
    return out


def heaviest(
    rows: list[dict[str, Any]], baseline_rows: list[dict[str, Any]], top: int = TOP_IMPORTS
) -> dict[str, list[dict[str, Any]]]:
    """What a handler imports beyond ``import boto3``.

    ``by_cumulative``: the modules with the largest cumulative import time that boto3 alone
    does not import (the handler's own ``functions.*`` modules excluded: they contain
    everything), each with the module that imported it. ``packages_by_self``: the import
    time over the baseline summed per top-level package (self times, so nothing counts twice;
    ``functions`` is the handlers' module bodies, i.e. the work done at import time).
    """
    in_baseline = {r["module"] for r in baseline_rows}
    extra = [r for r in _with_parents(rows) if r["module"] not in in_baseline]
    skip = re.compile(r"^functions(\.|$)")
    by_cumulative = sorted((r for r in extra if not skip.match(r["module"])), key=lambda r: -r["cumulative_us"])
    packages: dict[str, int] = {}
    for row in extra:
        package = row["module"].split(".")[0]
        packages[package] = packages.get(package, 0) + row["self_us"]
    return {
        "by_cumulative": [
            {
                "module": r["module"],
                "cumulative_ms": round(r["cumulative_us"] / 1000, 1),
                "self_ms": round(r["self_us"] / 1000, 1),
                "imported_by": r["parent"],
            }
            for r in by_cumulative[:top]
        ],
        "packages_by_self": [
            {"package": name, "self_ms": round(us / 1000, 1)}
            for name, us in sorted(packages.items(), key=lambda kv: -kv[1])[:top]
        ],
        "extra_total_ms": round(sum(r["self_us"] for r in extra) / 1000, 1),
    }


# ------------------------------------------------------------------ built artefacts, python3.13
BUILD_DIR = ROOT / ".aws-sam" / "build"
BOTO3_PY313 = ROOT / "bench" / ".cache" / "boto3-py313"  # the runtime's SDK, for this Python


def runtime_python() -> str | None:
    """A python3.13 (``PYC_PYTHON`` or PATH), as layers/compile_bytecode.sh looks for it."""
    for candidate in (os.environ.get("PYC_PYTHON"), shutil.which("python3.13")):
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=SUBPROCESS_TIMEOUT_S,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "3.13":
            return candidate
    return None


def _boto3_for(python: str) -> Path | None:
    """boto3 installed for ``python`` and byte-compiled, as the Lambda runtime ships it."""
    if not (BOTO3_PY313 / "boto3" / "__init__.py").exists():
        install = subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(BOTO3_PY313),
                "boto3",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if install.returncode != 0:
            return None
        subprocess.run([python, "-m", "compileall", "-q", str(BOTO3_PY313)], capture_output=True, check=False)
    return BOTO3_PY313


def built_artifacts(handlers: dict[str, dict[str, Any]], runs: int = RUNS) -> dict[str, Any]:
    """The artefacts ``sam build`` wrote, imported by python3.13 as Lambda would: each
    function's folder as the task root, the two layers and the runtime's boto3 on the path,
    once with the layers as built (their .pyc when the build had a python3.13) and once with
    every .pyc removed. Skipped, with the reason, when there is no python3.13 or no build."""
    python = runtime_python()
    if python is None:
        return {"skipped": "no python3.13 (set PYC_PYTHON or put one on PATH)"}
    layers = [BUILD_DIR / "SharedLayer" / "python", BUILD_DIR / "DependenciesLayer" / "python"]
    if not all(layer.is_dir() for layer in layers):
        return {"skipped": f"no sam build in {BUILD_DIR} (run `make check-template`)"}
    boto3_dir = _boto3_for(python)
    if boto3_dir is None:
        return {"skipped": "could not pip-install boto3 for python3.13"}
    layer_pyc = sum(1 for layer in layers for _ in layer.rglob("*.cpython-313.pyc"))
    with tempfile.TemporaryDirectory(prefix="cold-start-nopyc-") as scratch:
        stripped = []
        for layer in layers:
            copy = Path(scratch) / layer.parent.name / "python"
            shutil.copytree(layer, copy, ignore=shutil.ignore_patterns("__pycache__"))
            stripped.append(copy)

        def timed(module: str, cwd: Path, layer_dirs: list[Path], env: dict[str, str]) -> float:
            paths = [str(cwd), str(boto3_dir), *map(str, layer_dirs)]
            return _timed_import(
                [python, "-S", "-c", _TIMER.format(module=module)],
                cwd,
                {**env, "PYTHONPATH": os.pathsep.join(paths), "LAMBDA_TASK_ROOT": str(cwd)},
                f"{module} in {cwd.name}",
            )

        base_env = lambda_environment(next(iter(handlers.values()))["environment"]) if handlers else {}
        baseline_runs = [timed("boto3", BUILD_DIR, [], base_env) for _ in range(runs)]
        baseline = median(baseline_runs)
        rows: dict[str, Any] = {}
        for lid, info in handlers.items():
            task_root = BUILD_DIR / lid
            env = lambda_environment(info["environment"], info["function_name"], info["memory_size"])
            try:
                with_pyc = median([timed("app", task_root, layers, env) for _ in range(runs)])
                without = median([timed("app", task_root, stripped, env) for _ in range(runs)])
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                rows[lid] = {"error": str(exc)}
                continue
            rows[lid] = {
                "as_built_ms": round(with_pyc, 1),
                "as_built_over_baseline_ms": round(with_pyc - baseline, 1),
                "without_pyc_ms": round(without, 1),
                "without_pyc_over_baseline_ms": round(without - baseline, 1),
            }
    return {
        "note": "python3.13 importing the sam build artefacts (task root + layers + the runtime's compiled boto3); "
        "as_built = the layers as `sam build` left them, without_pyc = the same with every .pyc removed",
        "python": python,
        "layer_pyc_files": layer_pyc,
        "boto3_baseline_ms": round(baseline, 1),
        "handlers": rows,
    }


def run(runs: int = RUNS) -> dict[str, Any]:
    handlers = handler_modules()
    shared_env = next(iter(handlers.values()))["environment"] if handlers else {}
    baseline_env = lambda_environment(shared_env)
    envs = {
        lid: lambda_environment(h["environment"], h["function_name"], h["memory_size"]) for lid, h in handlers.items()
    }

    # Warm-up (not counted): compiles every .pyc once, so the runs measure imports, not compiles.
    warm = {**baseline_env, "PYTHONDONTWRITEBYTECODE": ""}
    warm_modules = ", ".join(["boto3", *(h["module"] for h in handlers.values())])
    subprocess.run([sys.executable, "-c", f"import {warm_modules}"], cwd=ROOT, env=warm, check=False, timeout=120)

    # Interleaved runs, so drift (other work on the machine) affects every module alike.
    # The baseline is always the runtime's byte-compiled boto3 with nothing hidden but the
    # dev-only packages ("dev_venv": as the virtualenv is, for reference).
    baselines: dict[str, list[float]] = {"lambda_like": [], "dev_venv": []}
    runs_ms: dict[str, dict[str, list[float]]] = {v: {lid: [] for lid in handlers} for v in VARIANTS}
    errors: dict[str, str] = {}
    started = time.perf_counter()
    for index in range(runs):
        for variant in baselines:
            baselines[variant].append(time_import("boto3", baseline_env, variant))
        for lid, info in handlers.items():
            for variant in VARIANTS:
                if lid in errors:
                    break
                try:
                    runs_ms[variant][lid].append(time_import(info["module"], envs[lid], variant))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    errors[lid] = str(exc)
        say(f"cold_start: run {index + 1}/{runs} done")
    baseline = median(baselines["lambda_like"])
    baseline_runs = baselines["lambda_like"]
    handler_runs = runs_ms["lambda_like"]

    def variant_view(variant: str, base: float, note: str) -> dict[str, Any]:
        return {
            "note": note,
            "boto3_baseline_ms": round(base, 1),
            "handlers": {
                lid: {"median_ms": round(median(v), 1), "over_baseline_ms": round(median(v) - base, 1)}
                for lid, v in runs_ms[variant].items()
                if v and lid not in errors
            },
        }

    no_pyc = variant_view(
        "lambda_like_no_pyc",
        baseline,
        "layers built where no python3.13 was at hand ship no .pyc (layers/compile_bytecode.sh warns) and /opt "
        "is read-only, so everything but the runtime's boto3/botocore/s3transfer and the stdlib is compiled at "
        "every cold start; build with a python3.13 on PATH or `sam build --use-container` to avoid it",
    )
    dev_venv = variant_view(
        "dev_venv",
        median(baselines["dev_venv"]),
        "the dev virtualenv as installed (dev-only packages importable, as `make test` sees it); not the target",
    )

    results: dict[str, Any] = {}
    for lid, info in handlers.items():
        if lid in errors:
            results[lid] = {"module": info["module"], "error": errors[lid], "target_met": False}
            continue
        value = median(handler_runs[lid])
        over = value - baseline
        results[lid] = {
            "module": info["module"],
            "median_ms": round(value, 1),
            "runs_ms": [round(v, 1) for v in handler_runs[lid]],
            "over_baseline_ms": round(over, 1),
            "target_met": over <= TARGET_OVER_BASELINE_MS,
        }

    timed = {lid: r for lid, r in results.items() if "median_ms" in r}
    slowest = max(timed, key=lambda lid: timed[lid]["median_ms"]) if timed else None
    profile: dict[str, Any] = {}
    if slowest:
        rows = import_profile(handlers[slowest]["module"], envs[slowest])
        baseline_rows = import_profile("boto3", baseline_env)
        profile = heaviest(rows, baseline_rows)
        profile["boto3_total_ms_under_importtime"] = round(sum(r["self_us"] for r in baseline_rows) / 1000, 1)
        profile["handler_total_ms_under_importtime"] = round(sum(r["self_us"] for r in rows) / 1000, 1)

    built = built_artifacts(handlers, runs)

    checks = [Check("boto3 baseline (median)", f"{baseline:.0f} ms")]
    for lid, r in results.items():
        value = f"+{r['over_baseline_ms']:.0f} ms ({r['median_ms']:.0f} ms)" if "median_ms" in r else r["error"][:60]
        checks.append(Check(f"{lid} over baseline", value, f"≤ +{TARGET_OVER_BASELINE_MS:.0f} ms", r["target_met"]))
    if no_pyc["handlers"]:
        worst = max(no_pyc["handlers"], key=lambda lid: no_pyc["handlers"][lid]["median_ms"])
        row = no_pyc["handlers"][worst]
        checks.append(
            Check(
                f"layers without .pyc: {worst}",
                f"+{row['over_baseline_ms']:.0f} ms ({row['median_ms']:.0f} ms)",
            )
        )

    built_rows = {lid: r for lid, r in built.get("handlers", {}).items() if "as_built_ms" in r}
    if built_rows:
        worst = max(built_rows, key=lambda lid: built_rows[lid]["as_built_ms"])
        row = built_rows[worst]
        checks.append(
            Check(
                f"python3.13, sam build artefacts: {worst}",
                f"+{row['as_built_over_baseline_ms']:.0f} ms as built ({built['layer_pyc_files']} .pyc), "
                f"+{row['without_pyc_over_baseline_ms']:.0f} ms without .pyc",
            )
        )

    return {
        "benchmark": NAME,
        "measured_at": now_iso(),
        "machine": machine(),
        "python": sys.version.split()[0],
        "lambda_runtime_in_template": "python3.13",
        "runs": runs,
        "method": "median of fresh interpreters timing `import functions.<folder>.app` (after one uncounted "
        "warm-up that compiles .pyc); Lambda-like environment from template.yaml, tracer enabled "
        "(AWS_LAMBDA_FUNCTION_NAME set), dev-only packages hidden (hidden_dev_only_packages), no network",
        "boto3_baseline_ms": round(baseline, 1),
        "boto3_runs_ms": [round(v, 1) for v in baseline_runs],
        "target_over_baseline_ms": TARGET_OVER_BASELINE_MS,
        "handlers": results,
        "hidden_dev_only_packages": list(DEV_ONLY_PACKAGES),
        "without_bytecode_cache": no_pyc,
        "dev_venv_as_installed": dev_venv,
        "built_artifacts_python313": built,
        "slowest_handler": slowest,
        "heaviest_imports": profile.get("by_cumulative", []),
        "heaviest_packages_self": profile.get("packages_by_self", []),
        "importtime_totals_ms": {
            "slowest_handler": profile.get("handler_total_ms_under_importtime"),
            "boto3": profile.get("boto3_total_ms_under_importtime"),
            "slowest_handler_beyond_boto3": profile.get("extra_total_ms"),
        },
        "elapsed_s": round(time.perf_counter() - started, 1),
        "target_met": all_met(checks) and not errors,
        "summary": [c.as_dict() for c in checks],
    }


def report(result: dict[str, Any]) -> None:
    """Human-readable details on stdout (the table comes from ``bench.__main__``)."""
    say(f"cold_start: boto3 baseline {result['boto3_baseline_ms']} ms (runs {result['boto3_runs_ms']})")
    for lid, r in result["handlers"].items():
        if "median_ms" in r:
            say(
                f"  {lid:<26} {r['median_ms']:>7.1f} ms  (+{r['over_baseline_ms']:.1f} over boto3)  "
                f"runs {r['runs_ms']}  {'OK' if r['target_met'] else 'OVER TARGET'}"
            )
        else:
            say(f"  {lid:<26} error: {r['error']}")
    for key in ("without_bytecode_cache", "dev_venv_as_installed"):
        view = result[key]
        say(f"cold_start: {key} (boto3 {view['boto3_baseline_ms']} ms): {view['note']}")
        for lid, r in view["handlers"].items():
            say(f"  {lid:<26} {r['median_ms']:>7.1f} ms  (+{r['over_baseline_ms']:.1f} over boto3)")
    built = result.get("built_artifacts_python313") or {}
    if "skipped" in built:
        say(f"cold_start: python3.13 on the sam build artefacts skipped: {built['skipped']}")
    elif built:
        say(f"cold_start: {built['note']} ({built['python']}, boto3 {built['boto3_baseline_ms']} ms):")
        for lid, r in built["handlers"].items():
            if "error" in r:
                say(f"  {lid:<26} error: {r['error']}")
            else:
                say(
                    f"  {lid:<26} as built {r['as_built_ms']:>7.1f} ms (+{r['as_built_over_baseline_ms']:.1f})"
                    f"   without .pyc {r['without_pyc_ms']:>7.1f} ms (+{r['without_pyc_over_baseline_ms']:.1f})"
                )
    if result.get("slowest_handler"):
        say(
            f"cold_start: heaviest imports of {result['slowest_handler']} beyond `import boto3` "
            "(python -X importtime, cumulative; -X importtime inflates times):"
        )
        for row in result["heaviest_imports"]:
            say(
                f"  {row['cumulative_ms']:>8.1f} ms  (self {row['self_ms']:>6.1f})  {row['module']}"
                f"  <- {row['imported_by']}"
            )
        say("cold_start: import time beyond boto3 per top-level package (self times):")
        for row in result["heaviest_packages_self"]:
            say(f"  {row['self_ms']:>8.1f} ms  {row['package']}")


def main() -> dict[str, Any]:
    result = run()
    report(result)
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
