#!/usr/bin/env bash
# The demo `make run` runs once everything is built: it drives a local Ditto
# platform with the `ditto` CLI exactly as a user would. It starts the platform
# in ./data (or reuses the one already running there), makes a tenant "demo",
# deploys the sample functions (binaries, a script, a Python and a Node.js
# function), invokes them synchronously and asynchronously, then fires a burst
# of concurrent invocations and prints how the tenant's worker vCPUs grow and
# shrink. The platform is left running at the end.
#
# usage: deploy/demo.sh [BUILD_DIR]    (default: build)
#
# It can be run again and again: an existing tenant gets a new key, and every
# deploy makes a new version of its function.
set -euo pipefail

build=${1:-build}
data=data
tenant=demo
ditto="$build/ditto"

# Every wait below has a deadline; these are generous for a small machine
# running VMs under TCG. A synchronous call has none of its own in the CLI,
# and the first one waits for the tenant's VM to boot.
INVOKE_DEADLINE_S=180
ASYNC_DEADLINE_S=60
BURST_DEADLINE_S=120
SCALE_DOWN_DEADLINE_S=30
BURST_SIZE=6
BURST_INPUT='{"ms":1500}'
SAMPLE_S=0.2

die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

step() {
	printf '\n== %s\n' "$*"
}

# Microseconds since the epoch, without starting a process.
now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}
	printf '%s' "$((10#$t))"
}

# Prints the first scalar value of field $1 in the JSON text $2, as the CLI's
# --json output prints it (one field per line); nothing when there is none.
# Strings come without their quotes.
field() {
	printf '%s\n' "$2" | sed -n "s/^ *\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | sed -n 1p
}

# Prints the JSON string field $1 of $2 unescaped well enough for display:
# the sample functions answer plain ASCII JSON.
text_field() {
	printf '%s\n' "$2" | sed -n "s/^ *\"$1\": *\"\(.*\)\",\{0,1\}$/\1/p" | sed -n 1p |
		sed 's/\\n$//; s/\\"/"/g'
}

# Formats microseconds as milliseconds with one decimal.
ms() {
	printf '%d.%d ms' "$(($1 / 1000))" "$(($1 % 1000 / 100))"
}

# Formats the time since $1 (microseconds) as seconds with one decimal.
since() {
	local d=$(($(now_us) - $1))
	printf '%d.%ds' "$((d / 1000000))" "$((d % 1000000 / 100000))"
}

# Invokes function $1 with input $2 synchronously and prints one line: what
# ran (with $3 in place of a long input), whether it was a cold start, its
# latency end to end and inside the function, and its result.
invoke() {
	local out rc=0
	out=$(timeout "$INVOKE_DEADLINE_S" "$ditto" --json invoke "$1" --data "$2" 2>&1) || rc=$?
	((rc != 124)) || die "invoking $1: no answer within ${INVOKE_DEADLINE_S}s"
	if ((rc != 0)); then
		[[ $out != *"not in this host's guest image"* ]] ||
			die "invoking $1 failed: $out (build the guest image with its runtime disk: make guest)"
		die "invoking $1 failed: $out"
	fi
	printf '%-9s %-18s cold_start=%-5s %11s total, %11s in the function  -> %s\n' \
		"$1" "${3:-$2}" "$(field cold_start "$out")" "$(ms "$(field total_us "$out")")" \
		"$(ms "$(field function_us "$out")")" "$(text_field result "$out")"
}

# Deploys function $1 from file $2 with the options that follow.
deploy() {
	"$ditto" deploy "$@" || die "cannot deploy $1 from $2"
}

# Sets workers and inflight from the tenant's VM as the controller last heard
# of it from the agent (empty while the tenant has no VM).
read_vm() {
	local out
	out=$("$ditto" --json tenant get "$tenant") || die "cannot read tenant $tenant"
	workers=$(field workers "$out")
	inflight=$(field inflight "$out")
}

tmp=$(mktemp -d)
burst_pids=()
cleanup() {
	local p
	for p in "${burst_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

[[ -x $ditto ]] || die "$ditto is missing: build first (make)"
for f in echo sha256 busy hello.sh python/hello.py nodejs/orders.js; do
	[[ -r $build/functions/$f ]] || die "$build/functions/$f is missing: build first (make)"
done
[[ -r $build/guest/vmlinux ]] ||
	die "$build/guest/vmlinux is missing: build the guest image first (make guest)"

step "Platform: ditto up --data-dir $data"
"$ditto" up --data-dir "$data" ||
	die "ditto up failed; see $data/controller.log and $data/agent.log"
[[ -r $data/ditto.env ]] || die "ditto up wrote no $data/ditto.env"
# ditto.env holds DITTO_URL= and DITTO_KEY= (the admin key).
# shellcheck source=/dev/null
. "$data/ditto.env"
[[ -n ${DITTO_URL:-} && -n ${DITTO_KEY:-} ]] || die "$data/ditto.env lacks DITTO_URL or DITTO_KEY"
export DITTO_URL
admin_key=$DITTO_KEY
unset DITTO_KEY DITTO_ENV DITTO_TENANT

step "Tenant \"$tenant\""
if out=$("$ditto" --key "$admin_key" tenant get "$tenant" 2>&1); then
	key=$("$ditto" --key "$admin_key" key create "$tenant") ||
		die "cannot make a new key for tenant $tenant"
	echo "tenant $tenant exists from an earlier run: made a new key for it"
elif [[ $out == *"(not_found,"* ]]; then
	key=$("$ditto" --key "$admin_key" tenant create "$tenant") ||
		die "cannot create tenant $tenant"
	echo "created tenant $tenant"
else
	die "cannot read tenant $tenant: $out"
fi
[[ $key == dk_* ]] || die "unexpected key from the CLI: $key"
(
	umask 077
	printf 'DITTO_URL=%s\nDITTO_KEY=%s\n' "$DITTO_URL" "$key" >"$data/$tenant.env"
)
echo "its key is in $data/$tenant.env"
"$ditto" --key "$admin_key" scale "$tenant" --min 0 --max 2 --policy elastic:1000 ||
	die "cannot set the scaling of tenant $tenant"

# From here on the CLI acts as the tenant.
export DITTO_KEY=$key

step "Deploy the sample functions"
deploy echo "$build/functions/echo" --mode persistent
deploy sha256 "$build/functions/sha256"
deploy busy "$build/functions/busy" --timeout 20000
deploy hello "$build/functions/hello.sh"
# The runtime follows from the file name (.py: python3, .js: nodejs); each
# keeps one warm launcher per worker vCPU, so only a first call pays the start.
deploy hello-py "$build/functions/python/hello.py"
deploy orders-js "$build/functions/nodejs/orders.js"

out=$("$ditto" --json tenant get "$tenant") || die "cannot read tenant $tenant"
if [[ $out == *'"vm": null'* ]]; then
	step "Synchronous invocations (the first boots the tenant's VM)"
else
	step "Synchronous invocations (the tenant's VM runs from an earlier run)"
fi
invoke echo '{"hello":"ditto"}'
invoke echo '{"hello":"again"}'
invoke sha256 '"ditto"'
invoke hello '{"name":"Ada"}'
invoke hello '{"name":"Grace"}'
invoke busy '{"ms":200}'
invoke hello-py '{"name":"Ada"}'
invoke hello-py '{"name":"Grace"}'
orders='{"orders":[{"customer":"ada","amount":12.5},{"customer":"bo","amount":7.5},{"customer":"ada","amount":7.5}]}'
invoke orders-js "$orders" '{"orders":[...3]}'
invoke orders-js "$orders" '{"orders":[...3]}'

step "Asynchronous invocation: ditto invoke busy --async"
id=$("$ditto" invoke busy --async --data '{"ms":500}') || die "cannot queue an invocation of busy"
echo "queued $id"
t0=$(now_us)
while :; do
	out=$("$ditto" --json invocation "$id") || die "cannot read invocation $id"
	status=$(field status "$out")
	[[ $status == queued || $status == running ]] || break
	(($(now_us) - t0 < ASYNC_DEADLINE_S * 1000000)) ||
		die "invocation $id still $status after ${ASYNC_DEADLINE_S}s"
	sleep "$SAMPLE_S"
done
echo "finished after $(since "$t0"): ditto invocation $id"
"$ditto" invocation "$id" || die "cannot read invocation $id"
[[ $status == ok ]] || die "invocation $id ended $status"
echo "its log: ditto logs $id"
"$ditto" logs "$id" || die "cannot read the log of invocation $id"

step "Burst: $BURST_SIZE x ditto invoke busy --data '$BURST_INPUT' at once" \
	"(max 2 worker vCPUs, keep-alive 1 s)"
# Start from an idle VM, so the timeline shows the whole rise and fall.
t0=$(now_us)
while read_vm; [[ ${workers:-0} != 0 ]]; do
	(($(now_us) - t0 < SCALE_DOWN_DEADLINE_S * 1000000)) ||
		die "worker vCPUs still at $workers after ${SCALE_DOWN_DEADLINE_S}s idle"
	sleep "$SAMPLE_S"
done
echo "worker vCPUs before the burst: 0 (waited $(since "$t0") for the keep-alive to release them)"
t0=$(now_us)
for i in $(seq 1 "$BURST_SIZE"); do
	"$ditto" --json invoke busy --data "$BURST_INPUT" >"$tmp/burst.$i" 2>&1 &
	burst_pids+=("$!")
done
# Sample the tenant's worker vCPUs (as the agent last reported them to the
# controller) and its invocations in flight; print a line whenever they change,
# until the burst is over and the worker vCPUs are released again. Finished
# calls are counted before the controller is asked, so no call shows as both
# done and in flight.
last='' ended=''
while :; do
	running=0
	for p in "${burst_pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then running=$((running + 1)); fi
	done
	read_vm
	now="workers=${workers:-none} in_flight=${inflight:-0} done=$((BURST_SIZE - running))"
	if [[ $now != "$last" ]]; then
		printf 't=%-5s %s\n' "$(since "$t0")" "$now"
		last=$now
	fi
	if ((running > 0)); then
		(($(now_us) - t0 < BURST_DEADLINE_S * 1000000)) ||
			die "the burst did not finish within ${BURST_DEADLINE_S}s"
	else
		[[ -n $ended ]] || ended=$(now_us)
		[[ ${workers:-0} == 0 ]] && break
		(($(now_us) - ended < SCALE_DOWN_DEADLINE_S * 1000000)) ||
			die "worker vCPUs still at $workers ${SCALE_DOWN_DEADLINE_S}s after the burst"
	fi
	sleep "$SAMPLE_S"
done
failed=0 cpus=()
for i in $(seq 1 "$BURST_SIZE"); do
	if ! wait "${burst_pids[$((i - 1))]}"; then
		failed=$((failed + 1))
		printf 'invocation %d failed: %s\n' "$i" "$(cat "$tmp/burst.$i")" >&2
		continue
	fi
	cpu=$(text_field result "$(cat "$tmp/burst.$i")" | sed -n 's/.*"cpu":\([0-9]*\).*/\1/p')
	cpus+=("$cpu")
done
burst_pids=()
((failed == 0)) || die "$failed of $BURST_SIZE burst invocations failed"
echo "all $BURST_SIZE ok, on worker vCPUs $(printf '%s\n' "${cpus[@]}" | sort -un | paste -sd, -)"

step "Done: the platform keeps running"
cat <<EOF
URL:          $DITTO_URL
Admin key:    $data/controller/admin.key (also in $data/ditto.env, which ditto reads by default)
Tenant key:   $data/$tenant.env, for instance:
              DITTO_ENV=$data/$tenant.env $ditto invoke hello --data '{"name":"you"}'
Logs:         $data/controller.log, $data/agent.log
Stop it:      $ditto down --data-dir $data
EOF
