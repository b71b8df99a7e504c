#!/usr/bin/env bash
# Checks template.yaml end to end, offline except for PyPI (sam build fetches wheels):
#   (a) cfn-lint on the SAM template
#   (b) sam validate --lint
#   (c) SAM -> CloudFormation translation (tests/infrastructure/translate.py) for the
#       template defaults and for each samconfig environment, then cfn-lint on the result
#   (d) sam build into .aws-sam/build and a look at the artefacts
#
# Run from the repository root:  bash .ci/check_template.sh
# Tools come from $CRMHUB_VENV/bin (default: ./.venv/bin) when it exists, else from PATH.
# SKIP_BUILD=1 skips (d) (handy while editing the template).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${CRMHUB_VENV:-$ROOT/.venv}"
if [[ -x "$VENV/bin/python" ]]; then
    PY="$VENV/bin/python"; CFN_LINT="$VENV/bin/cfn-lint"; SAM="$VENV/bin/sam"
else
    PY="$(command -v python3)"; CFN_LINT="$(command -v cfn-lint)"; SAM="$(command -v sam)"
fi

# layers/dependencies/Makefile runs pip with $LAYER_PYTHON (default: python3 on PATH);
# use the interpreter we already know has pip.
export LAYER_PYTHON="${LAYER_PYTHON:-$PY}"

# No credentials are needed anywhere below; make sure nothing goes looking for them.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0

BUILD_DIR=".aws-sam/build"
CHECK_DIR=".aws-sam/check"       # translated templates, kept for inspection
START=$SECONDS
step() { printf '\n==> %s  [+%ss]\n' "$*" "$((SECONDS - START))"; }

# ---------------------------------------------------------------- (a) cfn-lint on the SAM template
step "(a) cfn-lint template.yaml"
"$CFN_LINT" template.yaml

# ---------------------------------------------------------------- (b) sam validate
step "(b) sam validate --lint"
"$SAM" validate --lint --template-file template.yaml

# ---------------------------------------------------------------- (c) translate + cfn-lint
step "(c) SAM -> CloudFormation translation"
rm -rf "$CHECK_DIR"
mkdir -p "$CHECK_DIR"
"$PY" tests/infrastructure/translate.py template.yaml "$CHECK_DIR/template-defaults.json"
# ... and one per samconfig.toml environment, with its deploy parameter_overrides
# (one process: importing samtranslator is most of the cost).
"$PY" - "$CHECK_DIR" <<'EOF'
import json, pathlib, shlex, sys, tomllib
sys.path.insert(0, "tests/infrastructure")
from translate import translate_template

out = pathlib.Path(sys.argv[1])
path = pathlib.Path("samconfig.toml")
config = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
for env, commands in config.items():
    if not isinstance(commands, dict) or env == "default":
        continue
    overrides = commands.get("deploy", {}).get("parameters", {}).get("parameter_overrides")
    if not overrides:
        continue
    words = shlex.split(overrides) if isinstance(overrides, str) else list(overrides)
    params = dict(w.split("=", 1) for w in words)
    cfn = translate_template("template.yaml", params)
    (out / f"{env}.json").write_text(json.dumps(cfn, indent=2) + "\n", encoding="utf-8")
    print(f"translated template.yaml -> {out / (env + '.json')} ({' '.join(words)})")
EOF

step "(c) cfn-lint on the translated templates"
# Errors always fail. Warnings fail too, except these, which the translation itself
# causes and which say nothing about template.yaml (that file is linted with no
# exceptions in (a), so a real unused parameter or needless Sub is still caught there):
#   W2001  "Parameter X not used": SAM resolves some parameter Refs at transform time
#          (e.g. the usage plan's Throttle gets ApiRateLimitPerSecond/ApiBurstLimit as
#          numbers), so the parameter looks unused afterwards.
#   W1020  "Fn::Sub isn't needed": same cause; LayerName !Sub crmhub-${Stage}-... comes
#          out as {"Fn::Sub": "crmhub-dev-shared"}.
#   W3005  "dependency already enforced by a Ref": SAM adds DependsOn to the usage plan
#          and usage-plan key it generates; redundant, harmless, and not ours to change.
"$CFN_LINT" --ignore-checks W2001,W1020,W3005 -- "$CHECK_DIR"/*.json

# ---------------------------------------------------------------- (d) sam build
if [[ "${SKIP_BUILD:-0}" == "1" ]]; then
    step "(d) skipped (SKIP_BUILD=1)"
else
    step "(d) sam build --build-dir $BUILD_DIR"
    "$SAM" build --template-file template.yaml --build-dir "$BUILD_DIR" --parallel --cached

    step "(d) checking build artefacts"
    "$PY" - "$BUILD_DIR" <<'EOF'
import pathlib, sys
sys.path.insert(0, "tests/infrastructure")
from translate import load_template

build = pathlib.Path(sys.argv[1])
template = load_template("template.yaml")
handler_default = template.get("Globals", {}).get("Function", {}).get("Handler")
problems = []

def need(path: pathlib.Path, what: str) -> None:
    if not path.exists():
        problems.append(f"missing {what}: {path}")

def size(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

function_sizes = {}
for name, res in template["Resources"].items():
    if res.get("Type") != "AWS::Serverless::Function":
        continue
    handler = res.get("Properties", {}).get("Handler", handler_default) or "app.lambda_handler"
    module = handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
    need(build / name / module, f"{name} handler module")
    if (build / name / "Makefile").exists():
        problems.append(f"{name}: Makefile shipped in the artefact (function not built with BuildMethod: makefile?)")
    function_sizes[name] = size(build / name) if (build / name).exists() else 0

shared = build / "SharedLayer" / "python"
need(shared / "crmhub" / "__init__.py", "SharedLayer package")
# .pyc files only for the runtime's Python (layers/compile_bytecode.sh); one written by
# the build interpreter would be dead weight.
for layer in (shared, build / "DependenciesLayer" / "python"):
    if layer.exists():
        problems += [f"byte-code for another Python: {p}" for p in layer.rglob("*.pyc") if ".cpython-313" not in p.name]

deps = build / "DependenciesLayer" / "python"
need(deps / "aws_lambda_powertools" / "__init__.py", "DependenciesLayer aws_lambda_powertools")
core = list((deps / "pydantic_core").glob("_pydantic_core.cpython-313-*x86_64*.so"))
if not core:
    problems.append(f"no cp313 x86_64 pydantic_core extension in {deps / 'pydantic_core'}")
# An extension built for another CPython (e.g. the 3.11 that runs the build) would not
# import on python3.13; abi3 extensions are fine.
for so in deps.rglob("*.so") if deps.exists() else []:
    if ".cpython-" in so.name and ".cpython-313-" not in so.name:
        problems.append(f"extension for the wrong Python in DependenciesLayer: {so}")
for sdk in ("boto3", "botocore", "s3transfer"):
    if (deps / sdk).exists():
        problems.append(f"{sdk} should come from the Lambda runtime, not the layer")

# Lambda: function + all its layers <= 250 MB unzipped.
layers = sum(size(p) for p in (shared, deps) if p.exists())
biggest = max(function_sizes.values(), default=0)
total_mb = (layers + biggest) / 2**20
print(f"layers {layers / 2**20:.1f} MiB + biggest function {biggest / 2**10:.0f} KiB = {total_mb:.1f} MiB unzipped")
if total_mb > 250:
    problems.append(f"unzipped size {total_mb:.1f} MiB exceeds Lambda's 250 MB limit")

if problems:
    print("build artefact check FAILED:", *problems, sep="\n  - ", file=sys.stderr)
    sys.exit(1)
pyc = sum(1 for p in (shared, deps) if p.exists() for _ in p.rglob("*.cpython-313.pyc"))
print(f"artefacts ok: {len(function_sizes)} functions, SharedLayer, DependenciesLayer (cp313)")
print(
    f"layers carry {pyc} .pyc for python3.13" if pyc else
    "note: the layers carry no .pyc (no python3.13 at build time: see layers/compile_bytecode.sh); "
    "they work, but compile at every cold start"
)
EOF
fi

step "template checks passed in $((SECONDS - START))s"
