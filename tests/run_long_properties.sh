#!/usr/bin/env bash
# Long reliability run, kept out of the default CI run (issue 6).
#
# * every hypothesis property of tests/test_properties.py and
#   tests/test_properties_models.py with HYPOTHESIS_PROFILE=long, i.e.
#   max_examples=10,000 (profiles registered in tests/conftest.py; the
#   expensive properties of tests/test_properties_models.py take a stated
#   fraction of it, see ``_examples`` there);
# * the reader fuzz, tests/test_reader_fuzz.py: 10,000 truncated / bit-flipped
#   files per reader under the same profile (40 in the default run);
# * the bad-input suite, tests/test_bad_input.py and tests/test_bad_input_apps.py
#   (fixed cases; run once).
#
# Each test (pytest node id) runs in its own pytest process, in file order with
# batch with worker processes last (its worker processes are started once per
# pytest process and reused by every example: 10,000 examples take minutes).  One
# summary line per node id: status, hypothesis examples (passing / failing /
# invalid test cases of the generate phase and why it stopped, from
# --hypothesis-show-statistics) and wall time.  Full pytest
# output goes to $LOG_DIR/<n>.log.
#
#   tests/run_long_properties.sh                               # long profile
#   HYPOTHESIS_PROFILE=medium tests/run_long_properties.sh     # 1,000 per property
#   PYTHON=/work/venv/bin/python nice -n 10 tests/run_long_properties.sh
#   TESTS="tests/test_reader_fuzz.py" tests/run_long_properties.sh -x
#
# Environment: HYPOTHESIS_PROFILE (default long), PYTHON (default python),
# TESTS (files or node ids to expand, default all of the above), BAD_INPUT
# (1: append the bad-input suite; default 1 without TESTS, 0 with it),
# LOG_DIR (default a new directory under ${TMPDIR:-/tmp}).
# Extra arguments go to every pytest call.  Exit status: 0 when every node passed.
# Results are recorded in tests/RELIABILITY.md.
set -uo pipefail
cd "$(dirname "$0")/.."
profile="${HYPOTHESIS_PROFILE:-long}"
python="${PYTHON:-python}"
log_dir="${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/long_properties.XXXXXX")}"
mkdir -p "$log_dir"
default_tests="tests/test_properties.py tests/test_reader_fuzz.py tests/test_properties_models.py"
read -r -a tests <<< "${TESTS:-$default_tests}"

# expand files into node ids (parametrized hypothesis tests become one node each);
# the batch-with-processes property runs last, after the bad-input suite
collected=$(HYPOTHESIS_PROFILE="$profile" "$python" -m pytest -q --collect-only \
    -p no:randomly "${tests[@]}" 2>/dev/null | grep '::')
mapfile -t nodes < <(grep -v test_batch_processes_equal_serial <<< "$collected")
if [ "${BAD_INPUT:-$([ -z "${TESTS:-}" ] && echo 1 || echo 0)}" = 1 ]; then
    nodes+=("tests/test_bad_input.py tests/test_bad_input_apps.py")
fi
mapfile -t -O "${#nodes[@]}" nodes < <(grep test_batch_processes_equal_serial <<< "$collected")
if [ "${#nodes[@]}" -eq 0 ]; then
    echo "no tests collected from: ${tests[*]}" >&2
    exit 2
fi

echo "profile=$profile python=$python logs=$log_dir nodes=${#nodes[@]} started=$(date -u +%FT%TZ)"
start=$(date +%s)
failed=0
i=0
for node in "${nodes[@]}"; do
    i=$((i + 1))
    log="$log_dir/$i.log"
    t0=$(date +%s)
    # shellcheck disable=SC2086  # the bad-input entry holds two files
    HYPOTHESIS_PROFILE="$profile" "$python" -m pytest -q -p no:randomly -p no:cacheprovider \
        --hypothesis-show-statistics -rfE $node "$@" > "$log" 2>&1
    rc=$?
    [ $rc -eq 0 ] || failed=$((failed + 1))
    # "N passing, M failing, and K invalid test cases" of the generate phase, and why it stopped
    examples=$(awk '/during generate phase/ {g = 1} g && /passing/ {sub(/^ *- */, ""); print; exit}' "$log")
    stopped=$(grep -m1 'Stopped because' "$log" | sed -E 's/^ *- *Stopped because //')
    [ -z "$stopped" ] || examples="$examples; $stopped"
    outcome=$(tail -1 "$log" | sed -E 's/=+//g; s/^ +| +$//g')
    printf '%-100s exit=%d  %s  [%s]  %ds\n' "$node" "$rc" "${examples:--}" "$outcome" \
        $(( $(date +%s) - t0 ))
done
echo "profile=$profile failed_nodes=$failed wall_time_s=$(( $(date +%s) - start )) logs=$log_dir"
[ $failed -eq 0 ]
