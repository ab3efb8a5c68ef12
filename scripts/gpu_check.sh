#!/usr/bin/env bash
# The GPU check: the benchmark's gpu profile on this machine's GPUs, within a time limit, its summary table last.
#
#   scripts/gpu_check.sh [PYTEST_ARGS...]        e.g. scripts/gpu_check.sh -k "fsdp2 or staging_pinned"
#
# Writes the result file (JSON), pytest's log and the summary to $OUT when it is set (a device machine's output
# folder), else to results/. At LIMIT_S seconds (default 450) pytest gets SIGTERM: it stops its worlds and leaves
# the file with the cases that finished, marked incomplete, so the table still comes, well inside 8 minutes.
# Exit code: pytest's (0 all ok/unsupported/skipped, 1 a case failed, 2 bad input, no CUDA or the time limit).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-"python3"}
LIMIT_S=${LIMIT_S:-450}
folder=${OUT:-results}

"$PYTHON" -m bench.machine.requirements --check || {
  echo "gpu_check: missing Python packages: run ./run_bench.sh test once to install them (needs the network)" >&2
  exit 2
}
"$PYTHON" - <<'PY'
import torch
names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
print(f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, {len(names)} GPU(s): {', '.join(names) or '-'}")
PY

mkdir -p "$folder"
out="$folder/$(date -u +%Y%m%dT%H%M%SZ)_gpu_check.json"
log="${out%.json}.log"
status=0
# -k 30: a pytest that has not left 30 s after SIGTERM is killed (its file then holds what was written so far).
timeout -s TERM -k 30 "$LIMIT_S" "$PYTHON" -m bench --profile gpu --benchmark-json="$out" "$@" >"$log" 2>&1 \
  || status=$?
if ((status == 124 || status == 137)); then
  echo "gpu_check: stopped at the time limit of $LIMIT_S s; the table has the cases that finished" >&2
  status=2
fi
if [[ -s $out ]]; then
  tail -n 1 "$log"  # pytest's counts
  "$PYTHON" -m bench.results.summary "$out" | tee "${out%.json}.summary.txt"
elif grep -q "^statedict-bench: error" "$log"; then  # bad input or no CUDA: the suite's one line says it all
  grep "^statedict-bench: error" "$log" >&2
else
  tail -n 20 "$log" >&2
  echo "gpu_check: no result file was written; pytest's output: $log" >&2
fi
exit "$status"
