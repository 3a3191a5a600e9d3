#!/usr/bin/env bash
# Runs libFuzzer harnesses one after another, each for a fixed time.
#
#   tests/fuzz/run.sh DIR SECONDS NAME...
#
# DIR holds the harnesses (DIR/fuzz_NAME); each starts from its checked-in
# seeds (tests/fuzz/corpus/NAME) plus what earlier runs found
# (DIR/corpus/NAME, where new inputs go, never into the tree). A finding
# (crash, sanitizer report, broken invariant, hang, leak) leaves its input in
# DIR/findings/NAME/ and the log in DIR/logs/NAME.log. Prints executions per
# target; exits 1 when any target had a finding.
set -uo pipefail

[ $# -ge 3 ] || { echo "usage: $0 DIR SECONDS NAME..." >&2; exit 2; }
dir=$1 secs=$2
shift 2
case "$secs" in '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number" >&2; exit 2 ;; esac
seeds=$(cd "$(dirname "$0")" && pwd)/corpus

failed=()
printf '%-10s %12s %10s %8s  %s\n' target executions exec/s corpus result
for name in "$@"; do
	bin=$dir/fuzz_$name
	mkdir -p "$dir/corpus/$name" "$dir/findings/$name" "$dir/logs"
	log=$dir/logs/$name.log
	seed_dirs=()
	[ -d "$seeds/$name" ] && seed_dirs=("$seeds/$name")
	# -timeout: one input running this long is a hang; -rss_limit_mb bounds a
	# runaway allocation (and any single one as large). Inputs grow up to
	# libFuzzer's default, 4 KiB or the largest seed.
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/findings/$name/" \
		"$dir/corpus/$name" "${seed_dirs[@]}" >"$log" 2>&1
	rc=$?
	execs=$(awk -F: '/^stat::number_of_executed_units/ { gsub(/ /, "", $NF); print $NF }' "$log")
	rate=$(awk -F: '/^stat::average_exec_per_sec/ { gsub(/ /, "", $NF); print $NF }' "$log")
	units=$(find "$dir/corpus/$name" -type f | wc -l)
	result=ok
	if [ $rc -ne 0 ]; then
		result="FINDING (exit $rc): see $log"
		failed+=("$name")
	fi
	printf '%-10s %12s %10s %8s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "$units" "$result"
	if [ $rc -ne 0 ]; then
		grep -m1 -E 'ERROR: |runtime error|invariant failed|Timeout' "$log" >&2 || true
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: findings in ${failed[*]} (inputs in $dir/findings/)" >&2
	exit 1
fi
