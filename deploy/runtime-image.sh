#!/usr/bin/env bash
# Builds the guest's runtime disk: OUTDIR/runtime.img, a read-only squashfs
# holding Python 3 (python3.11 and its standard library, precompiled) and
# Node.js with the shared libraries they need, laid out merged-/usr
# (everything under usr/, the loader at usr/lib64), and the function
# launchers of runtimes/ in ditto/, followed in the same file by its
# dm-verity hash tree.
# The agent attaches it to every tenant VM as a read-only virtio-blk disk and
# the guest's /init maps it through dm-verity and mounts it at /opt/runtime.
# OUTDIR/runtime.json records the file, its SHA-256 and size and what a
# dm-verity setup needs; guest-image.sh copies it into image.json as
# "runtime", and OUTDIR/runtime.cmdline (the same parameters as the kernel
# command line's ditto.runtime=, root hash included) into the command line.
#
#   usage: deploy/runtime-image.sh OUTDIR
#
# The packages are fetched with `apt-get download` into OUTDIR/dl-runtime
# (kept as a cache) and unpacked there; nothing is installed on the host.
# Each package's newest non-backports version is taken (a version installed
# from elsewhere is not downloadable). The dependency closure of the roots is
# followed through Depends and Pre-Depends (the first of alternatives), except
# through packages only a package manager or other programs need at run time
# (SKIP below). Documentation, man and info pages, translations and lintian
# or bug-report data are left out of the tree.
#
# The same inputs give byte-identical outputs: mksquashfs stores every file
# as root with no xattrs and SOURCE_DATE_EPOCH (0 by default) as every time;
# the dm-verity salt and UUID are derived from the squashfs bytes.
set -Eeuo pipefail
export LC_ALL=C

ROOTS=(python3.11 python3 nodejs)

# Not needed to run python3 or node: the package manager and its helpers
# (dpkg, debconf, install-info, tar), perl (only Debian's scripts and
# mailcap's use it), mailcap and mime-support (media-types has the
# mime.types Python reads), readline-common (inputrc data), and
# ca-certificates (its bundle is made by a maintainer script, and the guest
# has no network).
SKIP=" dpkg debconf install-info tar perl perl-base perl-modules-5.36 libperl5.36 mailcap
	mime-support readline-common ca-certificates "

# The one compressor: zstd, as the guest decompresses what it reads on
# every cold start. Measured on the runtime tree (137 MB unpacked), one
# thread: zstd 44.0 MB unpacking in 0.9 s, xz 39.4 MB in 5.2 s.
COMP=(-comp zstd)
BLOCK=4096 # dm-verity data and hash block size

EPOCH=${SOURCE_DATE_EPOCH:-0}

die() { printf 'runtime-image: %s\n' "$*" >&2; exit 1; }
trap 'die "line $LINENO: $BASH_COMMAND failed"' ERR

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
case "$EPOCH" in '' | *[!0-9]*) die "SOURCE_DATE_EPOCH must be a number" ;; esac
for tool in apt-cache apt-get dpkg mksquashfs veritysetup sha256sum; do
	command -v "$tool" >/dev/null ||
		die "$tool not found (packages squashfs-tools, cryptsetup-bin: make deps)"
done

mkdir -p "$1"
out=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$src/runtimes/python/launcher.py" ] && [ -f "$src/runtimes/nodejs/launcher.js" ] ||
	die "the launchers are not in $src/runtimes"
dl=$out/dl-runtime
mkdir -p "$dl"

# Prints the newest non-backports version of package $1.
package_version() {
	apt-cache madison "$1" | awk -F' *[|] *' '$3 !~ /-backports/ { print $2; exit }'
}

# Prints the packages PKG=VER depends on: Depends and PreDepends, the first
# of each group of alternatives, a virtual package's first provider.
package_depends() {
	apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "$1" | awk '
		/^ *\|?(Pre)?Depends:/ {
			if (skip_alt) { skip_alt = ($1 ~ /^\|/); next }
			skip_alt = ($1 ~ /^\|/)
			if ($2 ~ /^</) { want_provider = 1; next }
			print $2; next
		}
		/^    / && want_provider { print $1; want_provider = 0 }'
}

# Sets pkgs to the closure of ROOTS, sorted, with "name=version" entries.
resolve_closure() {
	local -A seen=()
	local -a queue=("${ROOTS[@]}")
	local p ver dep
	pkgs=()
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		[ -n "${seen[$p]:-}" ] && continue
		seen[$p]=1
		case "$SKIP" in *[[:space:]]"$p"[[:space:]]*) continue ;; esac
		ver=$(package_version "$p")
		[ -n "$ver" ] || die "no downloadable version of $p"
		pkgs+=("$p=$ver")
		for dep in $(package_depends "$p=$ver"); do
			queue+=("${dep%:any}")
		done
	done
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort)
}

# The cached .deb of PKG=VER, downloaded first if need be.
deb_path() {
	local name=${1%%=*} ver=${1#*=}
	# The file name carries the version with its epoch's colon escaped.
	find "$dl" -maxdepth 1 -name "${name}_${ver//:/%3a}_*.deb" | head -n 1
}

# Downloads every package of the closure not cached yet. Returns non-zero
# with the reason in $dl/apt.log when one cannot be had.
fetch_all() {
	local p
	for p in "${pkgs[@]}"; do
		[ -n "$(deb_path "$p")" ] && continue
		(cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$p") \
			>"$dl/apt.log" 2>&1 || return 1
		[ -n "$(deb_path "$p")" ] || { echo "apt-get download $p left no .deb" >"$dl/apt.log"; return 1; }
	done
}

resolve_closure
# Stale package lists name versions the archive no longer has: as root,
# update them once and resolve again (guest-image.sh does the same).
if ! fetch_all; then
	if [ "$(id -u)" != 0 ] || ! apt-get update -q >"$dl/apt-update.log" 2>&1; then
		die "cannot download the runtime's packages: $(tail -n 1 "$dl/apt.log")"
	fi
	resolve_closure
	fetch_all || die "cannot download the runtime's packages: $(tail -n 1 "$dl/apt.log")"
fi
root=$out/runtime-root
rm -rf "$root"
mkdir -p "$root"
for p in "${pkgs[@]}"; do
	dpkg -x "$(deb_path "$p")" "$root" || die "dpkg -x for $p failed"
done
printf '%s\n' "${pkgs[@]}" >"$out/runtime.packages"
rm -f "$dl/apt.log"

# Merged /usr: what the packages put in /bin, /sbin, /lib and /lib64 moves
# under usr/, as the guest links /lib64 and /lib/x86_64-linux-gnu there.
for d in bin sbin lib lib64; do
	[ -d "$root/$d" ] || continue
	mkdir -p "$root/usr/$d"
	cp -a "$root/$d/." "$root/usr/$d/"
	rm -rf "${root:?}/$d"
done
rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,doc-base,gdb}
# Only the runtime is wanted: no package configuration or scripts outside usr/
# (the launchers join it below, in ditto/).
find "$root" -mindepth 1 -maxdepth 1 ! -name usr -exec rm -rf {} +
[ -x "$root/usr/bin/python3" ] || die "no usr/bin/python3 in the runtime tree"
[ -x "$root/usr/bin/node" ] || die "no usr/bin/node in the runtime tree"
[ -e "$root/usr/lib64/ld-linux-x86-64.so.2" ] || die "no loader at usr/lib64"

# ---- the launchers and Python's bytecode ---------------------------------------
# The guest runs functions through the launchers at /opt/runtime/ditto/...
# (ditto-guest --launchers), so they live on the disk beside the interpreters.
install -D -m 0644 "$src/runtimes/python/launcher.py" "$root/ditto/python/launcher.py"
install -D -m 0644 "$src/runtimes/nodejs/launcher.js" "$root/ditto/nodejs/launcher.js"

# Python's standard library as bytecode, so a cold start reads .pyc instead
# of compiling every module it imports (the disk is read-only: Python cannot
# cache what it compiles there). unchecked-hash: the interpreter uses the .pyc
# without looking at the source, which cannot change on this disk; the .pyc
# holds a hash of its source, not a time, for reproducible bytes. The
# compiler is the image's own interpreter, run on the build host through the
# image's loader and libraries, so the bytecode is exactly what it would
# write itself; where it cannot run (not an x86_64 Linux host) the bytecode
# is left out with a message. PYTHONHASHSEED fixes the order of the
# frozensets in the constants; -B keeps the compiler's own imports from
# writing timestamped .pyc files into the tree; the paths recorded are the
# guest's (/usr/lib/python3.X/..., where /usr/lib links to the disk).
compile_python() {
	local pyver=$1
	env -i PYTHONHASHSEED=0 LC_ALL=C "$root/usr/lib64/ld-linux-x86-64.so.2" \
		--library-path "$root/usr/lib/x86_64-linux-gnu:$root/usr/lib" "$root/usr/bin/$pyver" \
		-B -s -S -m compileall -q -f -j 1 --invalidation-mode unchecked-hash \
		-s "$root" -p / -x '/lib2to3/tests/data/' "$root/usr/lib/$pyver" >"$out/compileall.log" 2>&1
}
pyver=$(basename "$(readlink -f "$root/usr/bin/python3")")
case "$pyver" in python3.[0-9]*) ;; *) die "usr/bin/python3 is not a python3.X" ;; esac
if env -i "$root/usr/lib64/ld-linux-x86-64.so.2" --library-path \
	"$root/usr/lib/x86_64-linux-gnu:$root/usr/lib" "$root/usr/bin/$pyver" -S -c '' 2>/dev/null; then
	compile_python "$pyver" || die "compileall failed: $(tail -n 3 "$out/compileall.log")"
	rm -f "$out/compileall.log"
else
	printf 'runtime-image: cannot run the image'"'"'s %s on this host: its standard library goes without .pyc\n' \
		"$pyver" >&2
fi

# ---- squashfs and dm-verity --------------------------------------------------------
img=$out/runtime.img
rm -f "$img.tmp"
# mksquashfs sorts each directory itself; -all-time fixes every inode's time.
mksquashfs "$root" "$img.tmp" "${COMP[@]}" -b 131072 -all-root -no-xattrs -noappend \
	-mkfs-time "$EPOCH" -all-time "$EPOCH" -quiet -no-progress >/dev/null ||
	die "mksquashfs failed"
# mksquashfs pads to 4 KiB; the hash tree starts right after.
data_size=$(stat -c %s "$img.tmp")
[ $((data_size % BLOCK)) -eq 0 ] || die "squashfs size $data_size is not a multiple of $BLOCK"
data_sha=$(sha256sum <"$img.tmp" | cut -d' ' -f1)
salt=$data_sha
uuid="${data_sha:0:8}-${data_sha:8:4}-${data_sha:12:4}-${data_sha:16:4}-${data_sha:20:12}"
verity_log=$out/runtime.verity
veritysetup format "$img.tmp" "$img.tmp" --hash-offset="$data_size" \
	--data-blocks=$((data_size / BLOCK)) --data-block-size=$BLOCK --hash-block-size=$BLOCK \
	--hash=sha256 --salt="$salt" --uuid="$uuid" >"$verity_log" ||
	die "veritysetup format failed"
root_hash=$(awk -F':[ \t]*' '$1 == "Root hash" { print $2 }' "$verity_log")
[ ${#root_hash} -eq 64 ] || die "no root hash in the veritysetup output"
rm -f "$verity_log"
mv "$img.tmp" "$img"
size=$(stat -c %s "$img")
sha=$(sha256sum <"$img" | cut -d' ' -f1)
rm -rf "$root"

# The hash tree starts with its 512-byte superblock at verity_hash_offset, so
# the kernel's table (hash_start_block) begins one block later. The guest
# reads that table from the kernel command line (guest-worker/verity.h):
# dm-verity's fields with commas for spaces and the devices left out.
param="ditto.runtime=1,$BLOCK,$BLOCK,$((data_size / BLOCK)),$((data_size / BLOCK + 1)),sha256"
param+=",$root_hash,$salt"
printf '%s\n' "$param" >"$out/runtime.cmdline"
cat >"$out/runtime.json.tmp" <<EOF
{
    "file": "runtime.img",
    "sha256": "$sha",
    "size": $size,
    "fstype": "squashfs",
    "compression": "zstd",
    "verity_root_hash": "$root_hash",
    "verity_salt": "$salt",
    "verity_uuid": "$uuid",
    "verity_hash_algorithm": "sha256",
    "verity_data_block_size": $BLOCK,
    "verity_hash_block_size": $BLOCK,
    "verity_data_blocks": $((data_size / BLOCK)),
    "verity_hash_offset": $data_size,
    "verity_superblock": true,
    "cmdline": "$param"
  }
EOF
mv "$out/runtime.json.tmp" "$out/runtime.json"
printf 'runtime-image: %d packages, squashfs %s bytes, with hash tree %s bytes, root hash %s\n' \
	${#pkgs[@]} "$data_size" "$size" "$root_hash"
