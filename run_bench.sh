#!/usr/bin/env bash
# statedict-bench: run a profile of the benchmark and print its summary, or run the suite's own tests.
#
#   ./run_bench.sh [PROFILE] [--results-dir DIR] [--python PY] [-- PYTEST_ARGS...]
#   ./run_bench.sh test [-- PYTEST_ARGS...]
#
# Settings come from flags, with environment variables as defaults (as torchtitan's run script does).
set -euo pipefail
cd "$(dirname "$0")"

PROFILE=${PROFILE:-"quick"}
RESULTS_DIR=${RESULTS_DIR:-"results"}
PYTHON=${PYTHON:-"python3"}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.13.0"}  # installed only when the interpreter has no torch at all

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOT'

  PROFILE            quick (default; about 10 minutes on 2 cores), nightly or full      [env PROFILE]
  --results-dir DIR  where the result file goes (default: results)                      [env RESULTS_DIR]
  --python PY        interpreter to run with (default: python3)                         [env PYTHON]
  -- ARGS            passed to pytest, e.g. -- -k fsdp2 --mesh 2 --model dummy
  test               install what the tests need and run them (what .ci/run does)
EOT
}

mode=bench
extra=()
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    test) mode=test ;;
    quick|nightly|full) PROFILE=$1 ;;
    --profile) PROFILE=${2:?--profile needs a value}; shift ;;
    --results-dir) RESULTS_DIR=${2:?--results-dir needs a value}; shift ;;
    --python) PYTHON=${2:?--python needs a value}; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

install() {
  if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    "$PYTHON" -m pip install -q "$TORCH_SPEC"
  fi
  if ! "$PYTHON" -c "import pytest_benchmark, pytest_timeout, pandas, matplotlib, psutil, numpy, scipy, ruptures, packaging" 2>/dev/null; then
    # The dependencies listed in pyproject.toml, not the project itself: the code runs from this checkout.
    "$PYTHON" - <<'PY' | xargs "$PYTHON" -m pip install -q
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
PY
  fi
}

install
if [[ $mode == test ]]; then
  exec "$PYTHON" -m pytest tests -q "${extra[@]}"
fi

mkdir -p "$RESULTS_DIR"
out="$RESULTS_DIR/$(date -u +%Y%m%dT%H%M%SZ)_${PROFILE}.json"
log="${out%.json}.log"
echo "statedict-bench: profile $PROFILE; pytest output in $log"
set +e
# The full pytest-benchmark table goes to the log only: the summary below has one row per case.
"$PYTHON" -m pytest bench/ --profile="$PROFILE" --benchmark-json="$out" -q "${extra[@]}" 2>&1 \
  | tee "$log" | sed -u '/^-* benchmark /,$d'
status=${PIPESTATUS[0]}
set -e
echo
if [[ -s $out ]]; then
  "$PYTHON" -m bench.summary "$out"
else
  echo "no result file was written; see $log" >&2
  rm -f "$out"
fi
tail -n 1 "$log"
exit "$status"
