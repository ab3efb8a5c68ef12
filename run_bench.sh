#!/usr/bin/env bash
# statedict-bench: run a profile of the benchmark (its summary, result file and report), the nightly job, or the tests.
#
#   ./run_bench.sh [PROFILE] [--metric M] [--results-dir DIR] [--python PY] [--resume FILE] [-- PYTEST_ARGS...]
#   ./run_bench.sh nightly [--profile P] [--machine NAME] [--history-runs N] [--baseline FILE] [--results-dir DIR]
#                  [--python PY] [-- ...]
#   ./run_bench.sh compare --a PYTHON_A --b PYTHON_B [PROFILE] [--label-a L] [--label-b L] [--passes N]
#                  [--rounds N] [--block-rounds N] [--budget-min N] [--target-mde P%] [--threshold P%]
#                  [--no-settle] [--results-dir DIR] [-- PYTEST_ARGS...]
#   ./run_bench.sh calibrate [PROFILE] [--slowdown P%] [--ops OP[=P%],...] [--budget-min N] [--passes N]
#                  [--python PY] [--results-dir DIR] [-- PYTEST_ARGS...]
#   ./run_bench.sh test [-- PYTEST_ARGS...]
#
# Settings come from flags, with environment variables as defaults (as torchtitan's run script does).
set -euo pipefail
cd "$(dirname "$0")"

PROFILE=${PROFILE:-""}  # empty: the mode's own (quick, or nightly for the nightly job)
RESULTS_DIR=${RESULTS_DIR:-"results"}
BASELINE=${BASELINE:-""}
HISTORY_RUNS=${HISTORY_RUNS:-"10"}
MACHINE=${MACHINE:-"$(hostname -s 2>/dev/null || hostname)"}
PYTHON=${PYTHON:-"python3"}
METRIC=${METRIC:-"wall"}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.13.0"}  # installed only when the interpreter has no torch at all

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOT'

  PROFILE            quick (default; about 7 minutes on 2 cores), full, scale, scale-full or gpu (`nightly`: the job below)
  --profile P        any profile: quick, nightly, full, scale, scale-full, gpu             [env PROFILE]
  --results-dir DIR  where result files go (default: results)                           [env RESULTS_DIR]
  --python PY        interpreter to run with (default: python3)                         [env PYTHON]
  --resume FILE      continue the interrupted run of FILE (same PROFILE and options), into FILE
  --metric M         what a run, nightly or compare is judged on: wall (default), cpu, or instructions (every
                     rank under valgrind's callgrind: slow, needs valgrind; see docs/measuring.md) [env METRIC]
  -- ARGS            passed to pytest, e.g. -- -k fsdp2 --mesh 2 --model dummy
  test               install what the tests need and run them (what .ci/run does)

  nightly            the nightly job: the nightly profile (or --profile P) into
                     RESULTS_DIR/MACHINE/<UTC time>_torch-<version>_<torch commit>.json, compared with the
                     baseline, the history report RESULTS_DIR/MACHINE/report/report.html brought up to date, and a
                     short summary last. Exit 0: nothing flagged; 1: a regression flagged; 2: a broken run
                     (interrupted, pytest failed, no case ok) or bad input.
  --machine NAME     the history's folder under RESULTS_DIR (default: the host name)    [env MACHINE]
  --history-runs N   the baseline: the last N successful nightlies of the same profile in RESULTS_DIR/MACHINE
                     (default 10; incomplete or failed runs are passed over)            [env HISTORY_RUNS]
  --baseline FILE    exactly these runs as the baseline (a file, folder or glob)        [env BASELINE]

  compare            two torch installations side by side, in turns (A B A B within each case), in several
                     passes with fresh processes; files in
                     RESULTS_DIR/compare/<UTC>_<label A>_vs_<label B>_<random>/passNN/, then the comparison
                     (each pass one sample) and report
  --a PY / --b PY    the interpreters of side A (baseline) and side B                   [env PYTHON_A / PYTHON_B]
  --label-a/-b L     names in the report (default: torch version@commit)             [env LABEL_A / LABEL_B]
  --passes N         compare: passes, each with fresh processes (default 4)             [env PASSES]
  --rounds N         compare: measured rounds per case, side and pass (default 6)       [env ROUNDS]
  --block-rounds N   compare: rounds per turn (default 3)                              [env BLOCK_ROUNDS]
  --budget-min N     compare, calibrate: another pass while it fits in N minutes, judged by the last pass
                                                                                        [env BUDGET_MIN]
  --target-mde P%    compare, calibrate: as many passes as bring 90% of the timed cases to this MDE [env TARGET_MDE]
  --threshold P%     compare, calibrate: smallest change flagged (default 5%)          [env THRESHOLD]
  --no-settle        compare, calibrate: every case in every pass (by default a case whose interval lies inside
                     the threshold band after pass 2 or later is settled unchanged, one whose change is clear after
                     pass 3 or later is decided (flagged), and neither is run again) [env NO_SETTLE=1]

  calibrate          what this machine can see: a compare of the installed torch against itself with a known
                     slowdown planted in side B's ops; prints per metric (wall, cpu) the share of planted cases
                     flagged, false flags among the others, the minimum detectable effect, the time it took
  --ops OP[=P%],...  ops to slow down, OP or API:OP (default fsdp2:get_optim=10%,fsdp2:set_model=20%)
  --slowdown P%      the slowdown of an op named without one (default 10%)
EOT
}

fail() { echo "run_bench.sh: error: $*" >&2; exit 2; }

mode=bench
RESUME=""
extra=()
PYTHON_A=${PYTHON_A:-""}
PYTHON_B=${PYTHON_B:-""}
compare_args=()
calibrate_args=()
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    test) mode=test ;;
    nightly) mode=nightly ;;
    compare) mode=compare ;;
    calibrate) mode=calibrate ;;
    --ops|--slowdown) calibrate_args+=("$1" "${2:?$1 needs a value}"); shift ;;
    --a) PYTHON_A=${2:?--a needs a value}; shift ;;
    --b) PYTHON_B=${2:?--b needs a value}; shift ;;
    --label-a|--label-b|--passes|--rounds|--block-rounds|--budget-min|--target-mde|--threshold)
      compare_args+=("$1" "${2:?$1 needs a value}"); shift ;;
    --no-settle) compare_args+=("$1") ;;
    quick|full|scale|scale-full|gpu) PROFILE=$1 ;;
    --profile) PROFILE=${2:?--profile needs a value}; shift ;;
    --results-dir) RESULTS_DIR=${2:?--results-dir needs a value}; shift ;;
    --python) PYTHON=${2:?--python needs a value}; shift ;;
    --resume) RESUME=${2:?--resume needs a value}; shift ;;
    --metric) METRIC=${2:?--metric needs a value}; shift ;;
    --machine) MACHINE=${2:?--machine needs a value}; shift ;;
    --baseline) BASELINE=${2:?--baseline needs a value}; shift ;;
    --history-runs) HISTORY_RUNS=${2:?--history-runs needs a value}; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Whether file descriptor $1 is a terminal for a spinner or a live bar, rather than a log that gets plain lines
# (bench/run/terminal.py decides, for this script and the benchmark alike; it needs neither torch nor rich).
live_terminal() { "$PYTHON" -m bench.run.terminal 3 3>&"$1" 2>/dev/null; }  # asked of a copy: 2 goes to /dev/null

# Runs the command after $1 and says what the run waits for ($1): on a terminal a spinner, with the command's
# output shown when it ends (so that it does not tangle with the spinner); in a log one plain line.
waiting_for() {
  local what=$1 output pid status=0 i=0 columns line
  shift
  if ! live_terminal 2; then
    echo "run_bench.sh: $what..." >&2
    "$@"
    return
  fi
  columns=$(stty size <&2 2>/dev/null) && columns=${columns#* } && ((columns > 1)) || columns=80  # 0: size unknown
  output=$(mktemp)
  "$@" >"$output" 2>&1 &
  pid=$!
  # a command in the background ignores Ctrl-C: stop it here, and leave the line clean
  trap 'kill "$pid" 2>/dev/null; wait "$pid" || true; printf "\r\e[2K" >&2; cat "$output" >&2; rm -f "$output"
        exit 130' INT TERM
  while kill -0 "$pid" 2>/dev/null; do
    line="${SPINNER:i++%4:1} $what..."
    printf '\r\e[2K%s' "${line:0:columns-1}" >&2  # one row: a wrapped line would not be erased
    sleep 0.25
  done
  wait "$pid" || status=$?
  trap - INT TERM
  printf '\r\e[2K' >&2
  cat "$output" >&2
  rm -f "$output"
  return "$status"
}
SPINNER='|/-\'

install_deps() {  # what pyproject.toml lists, tests' extras included, for interpreter "$1"; never torch
  # torch is left out: pyproject's `torch>=2.4` would make pip put the newest torch into an interpreter that has
  # none (or replace a side's own in compare mode); install() below puts TORCH_SPEC where torch is missing.
  local lacking packages
  lacking=$("$1" -m bench.machine.requirements --tests --without torch) \
    || fail "$1 cannot tell what it lacks (it needs python 3.11 or newer)"
  if [[ -n $lacking ]]; then
    readarray -t packages <<<"$lacking"
    waiting_for "installing into $1: ${packages[*]}" "$1" -m pip install -q "${packages[@]}"
  fi
}

install() {
  if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    # the size of torch 2.13.0's CPU wheel for x86_64 (192 MB); CUDA builds bring CUDA's libraries too
    waiting_for "installing $TORCH_SPEC into $PYTHON (about 190 MB for a CPU build, over 2 GB with CUDA)" \
      "$PYTHON" -m pip install -q "$TORCH_SPEC"
  fi
  install_deps "$PYTHON"
}

[[ -n $PROFILE ]] || PROFILE=$([[ $mode == nightly ]] && echo nightly || echo quick)
if [[ $mode == compare ]]; then
  install_deps "$PYTHON"  # the driver's interpreter runs the analysis; it needs no torch
  for side in "$PYTHON_A" "$PYTHON_B"; do
    # only a side that exists and has torch; the driver says what is wrong with any other, in one line
    if command -v "$side" >/dev/null && "$side" -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)" 2>/dev/null; then
      install_deps "$side"
    fi
  done
  # exec: the driver forwards SIGTERM to both sides and waits for their files itself
  exec "$PYTHON" -m bench.compare.run --a "$PYTHON_A" --b "$PYTHON_B" --profile "$PROFILE" \
    --results-dir "$RESULTS_DIR" --metric "$METRIC" "${compare_args[@]}" -- "${extra[@]}"
fi
install
if [[ $mode == test ]]; then
  exec "$PYTHON" -m pytest tests -q "${extra[@]}"
fi

if [[ $mode == calibrate ]]; then
  for option in "${compare_args[@]}"; do
    [[ $option != --label-a && $option != --label-b ]] || fail "calibrate names its sides itself: leave out $option"
  done
  exec "$PYTHON" -m bench.compare.calibrate --python "$PYTHON" --profile "$PROFILE" --results-dir "$RESULTS_DIR" \
    "${calibrate_args[@]}" "${compare_args[@]}" -- "${extra[@]}"
fi
[[ -z $BASELINE || -e $BASELINE ]] || compgen -G "$BASELINE" >/dev/null || fail "baseline $BASELINE: no such file"
[[ $mode != nightly || $HISTORY_RUNS =~ ^[0-9]+$ && $((10#$HISTORY_RUNS)) -ge 1 ]] \
  || fail "--history-runs must be a whole number of 1 or more, not '$HISTORY_RUNS'"

# The nightly history's stable name: what ran (torch version and commit) and when; one folder per machine.
nightly_name() {
  local tag
  tag=$("$PYTHON" -c 'import torch; print("torch-" + torch.__version__ + "_" + (torch.version.git_version or "unknown")[:7])') \
    || fail "$PYTHON cannot import torch"
  echo "$(date -u +%Y%m%dT%H%M%SZ)_${tag}"
}

extra=(--metric "$METRIC" "${extra[@]}")
if [[ -n $RESUME ]]; then
  [[ -f $RESUME ]] || fail "cannot resume $RESUME: no such file"
  out=$RESUME
  report_runs=$out  # its name may not say its profile: reported alone
  extra=(--resume "$RESUME" "${extra[@]}")
elif [[ $mode == nightly ]]; then
  [[ $MACHINE =~ ^[A-Za-z0-9._-]+$ ]] || fail "machine name '$MACHINE' must be letters, digits, '.', '_' or '-'"
  mkdir -p "$RESULTS_DIR/$MACHINE" 2>/dev/null || fail "cannot create results folder $RESULTS_DIR/$MACHINE"
  name=$(nightly_name)
  out="$RESULTS_DIR/$MACHINE/$name.json"
  for ((n = 2; ; n++)); do  # noclobber: a second run in the same second takes the next free name
    (set -C; : >"$out") 2>/dev/null && break
    [[ -w $RESULTS_DIR/$MACHINE ]] || fail "results folder $RESULTS_DIR/$MACHINE is not writable"
    out="$RESULTS_DIR/$MACHINE/${name}_$n.json"
  done
else
  mkdir -p "$RESULTS_DIR" 2>/dev/null || fail "cannot create results folder $RESULTS_DIR"
  # A name of its own even for two runs started in the same second: mktemp adds a random part and reserves it.
  out=$(mktemp --suffix=.json "$RESULTS_DIR/$(date -u +%Y%m%dT%H%M%SZ)_${PROFILE}_XXXXXX" 2>/dev/null) \
    || fail "results folder $RESULTS_DIR is not writable"
  report_runs="$RESULTS_DIR/*_${PROFILE}_*.json"  # the runs of this profile that the name above makes
fi
log="${out%.json}.log"
private=$(mktemp -d)  # mode 0700
trap 'rm -rf "$private"' EXIT
mkfifo "$private/output"

# pytest runs in the background so that SIGTERM or Ctrl-C reach it through the trap below: it then stops its
# worlds and leaves the result file marked incomplete (a background job of a script ignores SIGINT itself).
# The full pytest-benchmark table goes to the log only: the summary below has one row per case.
view=(sed -u '/^-* benchmark /,$d')
if live_terminal 1; then
  # The benchmark draws its live progress bar on this terminal itself (fd 3, bench/run/progress_bar.py). Its plain
  # lines (progress, and what it waits for) stay in the log; on the terminal the bar shows them. Each line that
  # reaches the terminal first erases the bar's line, and the bar is drawn again below it.
  export STATEDICT_BENCH_TERMINAL_FD=3
  view=(sed -u -e '/^-* benchmark /,$d' -e '/^progress: /d' -e '/^statedict-bench: .*\.\.\.$/d' -e $'s/^/\r\e[2K/')
fi
tee "$log" <"$private/output" | "${view[@]}" &
reader=$!
"$PYTHON" -m bench --profile="$PROFILE" --benchmark-json="$out" "${extra[@]}" 3>&1 >"$private/output" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
set +e
wait "$pid"
status=$?
while kill -0 "$pid" 2>/dev/null; do  # wait returned early for a signal: pytest is still shutting down
  wait "$pid"
  status=$?
done
wait "$reader"
set -e
trap - TERM INT
[[ -z ${STATEDICT_BENCH_TERMINAL_FD:-} ]] || printf '\e[?25h'  # the cursor back, even where the bar was not stopped
if ((status == 2)) && [[ ! -s $out ]]; then  # bad input: pytest's one line says it all; leave no files
  rm -f "$out" "$log"
  exit 2
fi
echo
if [[ -s $out ]]; then
  "$PYTHON" -m bench.results.summary "$out"
else
  echo "no result file was written; see $log" >&2
  rm -f "$out"
fi
echo "pytest output: $log"
tail -n 1 "$log"
if [[ $mode == bench && -s $out ]]; then
  # The run's HTML report beside it: this run against the runs of the same profile before it in the same folder.
  # A report that fails says so and leaves the exit code pytest's: what was measured is in the result file anyway.
  if "$PYTHON" -m analysis report "$report_runs" -o "${out%.json}_report" --metric "$METRIC" \
      >"$private/report" 2>&1; then
    echo "report: ${out%.json}_report/report.html"
  else
    echo "report not written: $(tail -n 1 "$private/report")" >&2
  fi
fi
if [[ $mode == nightly ]]; then
  [[ -s $out ]] || { echo "nightly: BROKEN: no result file was written" >&2; exit 2; }
  echo
  set +e
  "$PYTHON" -m analysis nightly "$out" --history "$(dirname "$out")" --pytest-status "$status" \
    --report-dir "$(dirname "$out")/report" --history-runs "$((10#$HISTORY_RUNS))" --metric "$METRIC" \
    ${BASELINE:+--baseline "$BASELINE"}
  exit $?
fi
exit "$status"
