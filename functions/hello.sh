#!/bin/sh
# hello: greets the "name" field of the input (or the world) and says where
# it ran: {"hello":"<name>","cpu":N,"kernel":"<release>"}. A script for the
# guest's busybox sh, using busybox tools only. With DITTO_MODE=persistent each
# input line is one request answered by one line; otherwise all of stdin is
# one request. A bad input gets {"error":"..."} (and exit status 1 when the
# process serves a single request).

kernel=$(uname -r)

# Prints the answer to the request $1; returns 1 for a bad input.
respond() {
	# Squeeze the request onto one line so sed sees all of it at once.
	req=$(printf '%s' "$1" | tr '\n\r\t' '   ')
	case "$req" in
	*'{'*'}'*) ;;
	*)
		echo "hello: error=not_an_object" >&2
		printf '{"error":"input must be a JSON object such as {\\"name\\":\\"Ada\\"}"}\n'
		return 1
		;;
	esac
	name=world
	case "$req" in
	*'"name"'*)
		# Only a plain string (no quotes or escapes inside) is accepted, so
		# it can be copied into the answer as it is.
		name=$(printf '%s' "$req" |
			sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p')
		if [ -z "$name" ]; then
			echo "hello: error=bad_name" >&2
			printf '{"error":"name must be a non-empty string without quotes or escapes"}\n'
			return 1
		fi
		;;
	esac
	# Field 39 of /proc/self/stat is the CPU the reading process last ran
	# on; cut runs where this script runs, as a child inherits its CPU.
	cpu=$(cut -d' ' -f39 /proc/self/stat)
	printf '{"hello":"%s","cpu":%s,"kernel":"%s"}\n' "$name" "$cpu" "$kernel"
	echo "hello: name=$name cpu=$cpu" >&2
}

if [ "$DITTO_MODE" = persistent ]; then
	# The second test serves a last line that has no newline.
	while IFS= read -r line || [ -n "$line" ]; do
		respond "$line"
	done
	exit 0
fi
respond "$(cat)"
