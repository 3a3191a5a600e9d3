#!/usr/bin/env bash
# Installs everything Ditto needs on a Debian 12 machine from Debian's archive.
# QEMU comes from bookworm-backports (QEMU 10); the suite is enabled by copying
# the machine's own Debian source entry, so no mirror is named here. If the
# backports suite cannot be had, Debian 12's QEMU 7.2 is installed instead
# (limit: CPU hot-add after a hot-remove crashes QEMU 7.2 under TCG, so the
# hotplug mechanism can only grow once; precreated works on both).
# clang with libclang-rt-dev (libFuzzer and the sanitizers' runtimes, which
# --no-install-recommends would leave out) builds the fuzzers; llvm brings
# llvm-symbolizer for readable sanitizer reports. postgresql brings the server
# binaries the tests start privately (as the postgres user when run as root) and
# `ditto up --store postgres` runs for a demo; libpq-dev the client library and
# pg_config. The system cluster the package may create and start is not used.
set -euo pipefail

packages=(build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev
          libuv1-dev libssl-dev libcmocka-dev libcurl4-openssl-dev busybox-static cpio
          gzip zstd xz-utils lz4 kmod binutils curl gnuplot-nox squashfs-tools cryptsetup-bin
          python3 nodejs
          clang libclang-rt-dev llvm
          postgresql libpq-dev)

say() { printf 'deps: %s\n' "$*" >&2; }

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Writes a deb822 source for bookworm-backports with the URIs and keyring of the
# machine's existing bookworm entry. Handles both deb822 and one-line formats.
enable_backports() {
	local out=/etc/apt/sources.list.d/ditto-backports.sources uris="" keyring=""
	[ -f "$out" ] && return 0
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# Take the first stanza whose Suites list the plain "bookworm" suite.
		read -r uris keyring < <(awk '
			BEGIN { RS=""; FS="\n" }
			{
				u=""; s=""; k=""
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { u=$i; sub(/^URIs:[ \t]*/, "", u) }
					if ($i ~ /^Suites:/) { s=" " $i " " }
					if ($i ~ /^Signed-By:/) { k=$i; sub(/^Signed-By:[ \t]*/, "", k) }
				}
				if (s ~ /[ \t]bookworm[ \t]/ && u != "") { print u, k; exit }
			}' "$f") || true
		[ -n "$uris" ] && break
	done
	if [ -z "$uris" ] && [ -f /etc/apt/sources.list ]; then
		uris=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
	fi
	if [ -z "$uris" ]; then
		say "no Debian bookworm source entry found; cannot enable backports"
		return 1
	fi
	say "enabling bookworm-backports from $uris"
	{
		echo "Types: deb"
		echo "URIs: $uris"
		echo "Suites: bookworm-backports"
		echo "Components: main"
		[ -n "$keyring" ] && echo "Signed-By: $keyring"
	} | sudo_ tee "$out" >/dev/null
}

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
qemu_ok=0
if command -v qemu-system-x86_64 >/dev/null; then
	ver=$(qemu-system-x86_64 --version | awk 'NR==1 { print $4 }')
	case "$ver" in 1[0-9].*) qemu_ok=1 ;; esac
	[ "${DITTO_ALLOW_OLD_QEMU:-0}" = 1 ] && qemu_ok=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $qemu_ok = 1 ]; then
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
backports=0
enable_backports && backports=1
sudo_ apt-get update -q -o=Dpkg::Use-Pty=0 >&2
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
if [ $qemu_ok = 0 ]; then
	if [ $backports = 1 ] && sudo_ apt-get install -y -q --no-install-recommends \
		-t bookworm-backports qemu-system-x86 qemu-utils >&2; then
		say "installed QEMU from bookworm-backports"
	else
		say "backports unavailable: installing Debian 12's QEMU 7.2 (hotplug can grow only once after a shrink under TCG)"
		sudo_ apt-get install -y -q --no-install-recommends qemu-system-x86 >&2
	fi
fi
qemu-system-x86_64 --version | head -1 >&2
