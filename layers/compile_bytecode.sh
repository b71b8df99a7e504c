#!/usr/bin/env bash
# Byte-compile a layer for the Lambda runtime's Python, when that Python is at hand.
#
#   layers/compile_bytecode.sh <dir> [version]     (version defaults to 3.13)
#
# Lambda mounts layers read-only at /opt: a layer without .pyc files is compiled from
# source at every cold start (bench/results/cold_start.json, "without_bytecode_cache":
# ~1.5 s more per handler). .pyc files are tied to the interpreter's minor version, so only
# a python<version> can write them; the build interpreter (3.11 here) cannot. The script
# uses $PYC_PYTHON, else python<version> from PATH; with neither it warns and leaves the
# layer as it is (it still works, only slower to start). `sam build --use-container`
# builds in the runtime's image, which has it.
#
# unchecked-hash: the .pyc is used without comparing the source's mtime (a layer's files
# never change, and zip extraction need not keep mtimes).
set -euo pipefail
dir=${1:?usage: compile_bytecode.sh <dir> [version]}
version=${2:-3.13}
python=${PYC_PYTHON:-python$version}
if actual=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) && [ "$actual" = "$version" ]; then
    # A package may carry a file that is not valid Python 3 (a template, a py2 test):
    # it stays uncompiled, which is all compileall's failure means here.
    "$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$dir" >/dev/null ||
        echo "warning: some files in $dir did not compile (they load from source)" >&2
    echo "compiled $(find "$dir" -name '*.pyc' | wc -l) .pyc files for Python $version in $dir"
else
    echo "warning: no Python $version (set PYC_PYTHON or use sam build --use-container): $dir ships" \
        "without .pyc and compiles its modules at every cold start" >&2
fi
