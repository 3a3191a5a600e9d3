#!/usr/bin/env bash
# Builds the Ditto guest image: OUTDIR/vmlinux (a Debian 12 kernel as an
# uncompressed ELF, booted by QEMU through its PVH entry point), OUTDIR/vmlinuz
# (the same kernel as the package's bzImage, for firmware such as OVMF),
# OUTDIR/initramfs.cpio.gz (busybox, the virtio-serial modules, the SEV-SNP
# guest driver when the kernel has it, /init and the guest daemon),
# OUTDIR/cmdline and OUTDIR/image.json, which records the three and the digest
# an attestation checks them against. When OUTDIR/runtime.json is there (the
# runtime disk deploy/runtime-image.sh builds, which `make guest` runs
# first), image.json carries it as "runtime" and the kernel command line its
# dm-verity parameters (OUTDIR/runtime.cmdline: ditto.runtime=...).
#
#   usage: [DITTO_GUEST_KERNEL=cloud-amd64|amd64] deploy/guest-image.sh OUTDIR GUEST_BINARY
#
# DITTO_GUEST_KERNEL names the kernel flavour, that is the meta package
# linux-image-FLAVOUR. cloud-amd64 (the default) boots fastest but has no
# SEV-SNP guest driver, so its VMs can only report attestation evidence of
# type none; amd64, Debian's generic kernel, carries the driver (sev-guest)
# and gives /dev/sev-guest on SEV-SNP hardware.
#
# The kernel package is fetched with `apt-get download` into OUTDIR/dl (kept as
# a cache) and unpacked there; nothing is installed on the host. The same
# inputs give byte-identical outputs: files are archived in sorted order with
# fixed owners, modes and mtimes (SOURCE_DATE_EPOCH, 0 by default).
set -Eeuo pipefail
export LC_ALL=C

# The kernel command line is part of the image: it is recorded in image.json
# and covered by image_digest. Ditto needs a serial console, only CPU 0 online
# at boot (the guest daemon onlines the others), /init from the initramfs and
# a panic to reset the VM at once; noreplace-smp makes the first CPU hot-add
# cheaper. cryptomgr.notests skips the crypto self-tests, about 0.3 s of a
# 2 s boot under TCG. Measured and left out, as they gained nothing beyond the
# noise: mitigations=off, tsc=reliable, no_timer_check, i8042.noaux/nokbd,
# and initcall_blacklist= (matching it against every initcall costs more than
# the skipped initcall saves).
CMDLINE="console=ttyS0 quiet maxcpus=1 noreplace-smp panic=-1 rdinit=/init cryptomgr.notests"

# virtio-serial and what it needs, dependencies first; then the runtime disk's
# virtio-blk and squashfs (its zstd and xz decompressors are built in), and
# the device-mapper's verity target that checks the disk (modinfo: dm-verity
# needs dm-mod, dm-bufio and reed_solomon, for its optional error
# correction; SHA-256 is built in).
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console
	virtio_blk squashfs dm-mod dm-bufio reed_solomon dm-verity)

# The SEV-SNP guest driver, dependencies first, for a kernel that has it. The
# driver's messages to the security processor are AES-GCM: the crypto API
# instantiates gcm(aes) when the driver probes, from these modules (AES itself
# is built in), and without modules.dep it cannot load them on demand.
SEV_MODULES=(gf128mul ghash-generic ctr gcm sev-guest)

FLAVOUR=${DITTO_GUEST_KERNEL:-cloud-amd64}
KERNEL_META=linux-image-$FLAVOUR
BUSYBOX=/bin/busybox
EPOCH=${SOURCE_DATE_EPOCH:-0}

die() { printf 'guest-image: %s\n' "$*" >&2; exit 1; }
# Any other failing command still ends the build with one line saying what.
trap 'die "line $LINENO: $BASH_COMMAND failed"' ERR

[ $# -eq 2 ] || die "usage: $0 OUTDIR GUEST_BINARY"
out=$1
guest=$2
init=$(dirname "$0")/init
[ -f "$guest" ] || die "guest binary $guest not found"
[ -f "$init" ] || die "$init not found"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (package busybox-static)"
case "$EPOCH" in '' | *[!0-9]*) die "SOURCE_DATE_EPOCH must be a number" ;; esac
case "$FLAVOUR" in
cloud-amd64 | amd64) ;;
*) die "DITTO_GUEST_KERNEL must be cloud-amd64 or amd64" ;;
esac
for tool in apt-cache apt-get dpkg depmod modinfo cpio gzip od readelf sha256sum strip; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

# Prints the kernel package that the newest non-backports version of the
# meta package depends on, e.g. linux-image-6.1.0-56-cloud-amd64. apt-cache
# madison lists versions newest first, bookworm and bookworm-security alike.
resolve_kernel_package() {
	local ver
	ver=$(apt-cache madison "$KERNEL_META" |
		awk -F' *[|] *' '$3 !~ /-backports/ { print $2; exit }')
	[ -n "$ver" ] || return 1
	apt-cache depends "$KERNEL_META=$ver" |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# Prints the little-endian unsigned integer of SIZE bytes at OFFSET in FILE.
read_le() {
	od -An -tu"$3" --endian=little -j "$2" -N "$3" "$1" | tr -d ' '
}

# Writes the ELF kernel inside the bzImage IN to OUT. The x86 boot header
# (Documentation/arch/x86/boot.rst) locates the compressed payload; its first
# bytes tell the compression. The kernel build appends the uncompressed size
# to every payload (gzip carries it in its own trailer), which checks the
# result: some decompressors report an error on those trailing bytes even
# though the output is complete, so their exit status is not used.
extract_vmlinux() {
	local in=$1 out=$2 setup_sects payload_off payload_len start magic size
	local -a unpack
	[ "$(od -An -c -j 514 -N 4 "$in" | tr -d ' ')" = HdrS ] || return 1
	setup_sects=$(read_le "$in" 497 1)
	[ "$setup_sects" -eq 0 ] && setup_sects=4
	payload_off=$(read_le "$in" 584 4)
	payload_len=$(read_le "$in" 588 4)
	start=$(((setup_sects + 1) * 512 + payload_off))
	magic=$(od -An -tx1 -j "$start" -N 6 "$in" | tr -d ' ')
	case "$magic" in
	1f8b*) unpack=(gzip -dc) ;;
	fd377a585a00) unpack=(xz -dc) ;;
	5d0000*) unpack=(xz -dc --format=lzma) ;;
	425a68*) unpack=(bzip2 -dc) ;;
	28b52ffd*) unpack=(zstd -dcq) ;;
	02214c18*) unpack=(lz4 -dc) ;;
	*) return 1 ;;
	esac
	command -v "${unpack[0]}" >/dev/null || die "${unpack[0]} not found (needed for this kernel)"
	tail -c +$((start + 1)) "$in" | head -c "$payload_len" >"$out.payload"
	"${unpack[@]}" <"$out.payload" >"$out.tmp" 2>/dev/null || true
	size=$(read_le "$out.payload" $((payload_len - 4)) 4)
	rm -f "$out.payload"
	[ "$(stat -c %s "$out.tmp")" = "$size" ] || return 1
	# QEMU's -kernel boots an ELF through the PVH entry point, which the
	# kernel announces with the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (18).
	readelf -W -n "$out.tmp" | grep -Eq '^ *Xen .*(0x00000012\)|PHYS32_ENTRY)' || return 1
	mv "$out.tmp" "$out"
}

# Prints a cpio "newc" header for NAME with no data: GNU cpio can only archive
# files that exist, and a device node on disk would need root to create.
cpio_newc_entry() {
	local name=$1 mode=$2 rmajor=$3 rminor=$4 namesize pad
	namesize=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		0 "$mode" 0 0 1 "$EPOCH" 0 0 0 "$rmajor" "$rminor" "$namesize" 0 "$name"
	# Header (110 bytes) plus name is padded to a multiple of 4.
	pad=$(((4 - (110 + namesize) % 4) % 4))
	head -c "$pad" /dev/zero
}

mkdir -p "$out"
out=$(cd "$out" && pwd)
dl=$out/dl

# ---- kernel -------------------------------------------------------------------
# Sets kpkg, kver and deb: resolves the kernel package and downloads it into
# $dl unless it is there already. Returns 1 with the reason in $dl/apt.log.
fetch_kernel() {
	kpkg=$(resolve_kernel_package) || true
	if [ -z "$kpkg" ]; then
		echo "cannot resolve $KERNEL_META" >"$dl/apt.log"
		return 1
	fi
	kver=${kpkg#linux-image-}
	deb=$(find "$dl" -maxdepth 1 -name "${kpkg}_*_amd64.deb" | sort | tail -n 1)
	[ -n "$deb" ] && return 0
	# Only the current kernel is worth keeping in the cache.
	rm -rf "$dl"/*.deb "$dl"/root-*
	# As root apt downloads as the user _apt, who cannot write to OUTDIR.
	(cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$kpkg") >"$dl/apt.log" 2>&1 ||
		return 1
	deb=$(find "$dl" -maxdepth 1 -name "${kpkg}_*_amd64.deb" | sort | tail -n 1)
	[ -n "$deb" ]
}

mkdir -p "$dl"
if ! fetch_kernel; then
	# Package lists older than the archive name files that are gone: refresh
	# them once (deploy/deps.sh skips apt-get update when nothing is missing).
	if [ "$(id -u)" != 0 ] || ! apt-get update -q >"$dl/apt.log" 2>&1 || ! fetch_kernel; then
		die "cannot get the kernel package ${kpkg:-$KERNEL_META}: $(tail -n 1 "$dl/apt.log")"
	fi
fi
rm -f "$dl/apt.log"
kroot=$dl/root-$kver
if [ ! -f "$kroot/.unpacked" ] || [ "$kroot/.unpacked" -ot "$deb" ]; then
	rm -rf "$kroot"
	dpkg -x "$deb" "$kroot" || die "dpkg -x $deb failed"
	touch "$kroot/.unpacked"
fi
# The package ships no modules.dep; modinfo needs it to find modules by name.
if [ ! -f "$kroot/lib/modules/$kver/modules.dep" ]; then
	depmod -b "$kroot" "$kver" || die "depmod for $kver failed"
fi
extract_vmlinux "$kroot/boot/vmlinuz-$kver" "$out/vmlinux" ||
	die "cannot extract a PVH-bootable vmlinux from vmlinuz-$kver"
# The bzImage as the package ships it, for firmware that boots the kernel
# through its EFI stub: QEMU boots an ELF kernel only through the PVH option
# ROM, which OVMF does not run, and hashes only a bzImage for an SEV launch
# (kernel-hashes=on).
cp "$kroot/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
chmod 0644 "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"

# ---- initramfs tree -------------------------------------------------------------
stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,lib/modules,proc,sys,run,tmp}

# Every busybox applet, at the path busybox itself lists (bin/sh, sbin/insmod),
# so functions written for busybox sh find the usual tools.
cp "$BUSYBOX" "$stage/bin/busybox"
while read -r applet; do
	case "$applet" in bin/busybox | linuxrc | sbin/init) continue ;; esac
	mkdir -p "$stage/$(dirname "$applet")"
	ln -sf /bin/busybox "$stage/$applet"
done < <("$BUSYBOX" --list-full)

# Modules are loaded by busybox insmod, which reads neither compressed files
# nor dependencies: they are decompressed, and each list records its load
# order for /init.
#
# Prints the path of module NAME in the kernel, "(builtin)" when it is built
# in, nothing when the kernel has neither.
module_path() {
	modinfo -b "$kroot" -k "$kver" -n "$1" 2>/dev/null || true
}

# stage_modules LIST MODULE...: stages the modules in the order given and
# writes their names to /etc/LIST; a module built into the kernel is skipped.
# Each module's dependencies must come before it, in this list or an earlier one.
stage_modules() {
	local list=$stage/etc/$1 mod path dep
	shift
	: >"$list"
	for mod in "$@"; do
		path=$(module_path "$mod")
		[ -n "$path" ] || die "module $mod not in $kpkg"
		[ "$path" = "(builtin)" ] && continue
		for dep in $(modinfo -F depends "$path" | tr ',' ' '); do
			case "$loaded" in *" ${dep//-/_} "*) ;; *) die "module $mod needs $dep loaded first" ;; esac
		done
		case "$path" in
		*.ko) cat "$path" ;;
		*.ko.xz) xz -dc "$path" ;;
		*.ko.zst) zstd -dcq "$path" ;;
		*.ko.gz) gzip -dc "$path" ;;
		*) die "unknown module format: $path" ;;
		esac >"$stage/lib/modules/$mod.ko" || die "cannot decompress $path"
		echo "$mod" >>"$list"
		loaded+="${mod//-/_} "
	done
}

loaded=" "
stage_modules modules "${MODULES[@]}"
# /init loads these only when the kernel registered the SEV-SNP guest device,
# that is in an SEV-SNP VM; elsewhere they would cost boot time for nothing.
sev_guest=false
if [ -n "$(module_path sev-guest)" ]; then
	stage_modules modules.sev-guest "${SEV_MODULES[@]}"
	sev_guest=true
fi

cp "$init" "$stage/init"
# Debug sections are of no use in the VM and only cost boot time to unpack.
strip --strip-debug -o "$stage/sbin/ditto-guest" "$guest" || die "cannot strip $guest"

# Modes and times are set here, not inherited from the host, for byte-identical
# archives whatever the umask or the build time.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$stage/init" "$stage/bin/busybox" "$stage/sbin/ditto-guest"
chmod 1777 "$stage/tmp"
find "$stage" -exec touch -h -d "@$EPOCH" {} +

# ---- initramfs archive ----------------------------------------------------------
# The kernel opens /dev/console for init's stdio before /init runs. Debian's
# kernels carry a built-in archive with one, but the image should not depend
# on how the kernel was configured: the node is written by hand ahead of the
# tree, in the same archive.
{
	cpio_newc_entry dev $((0040755)) 0 0
	cpio_newc_entry dev/console $((0020600)) 5 1
	(cd "$stage" && find . -mindepth 1 -printf '%P\n' | sort |
		cpio --quiet -o -H newc --reproducible --owner=0:0)
} >"$out/initramfs.cpio"
gzip -n -9 <"$out/initramfs.cpio" >"$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
rm -rf "$stage" "$out/initramfs.cpio"

# ---- metadata -------------------------------------------------------------------
# The runtime disk's dm-verity parameters, its root hash among them, join the
# command line, so the image digest and an SEV-SNP launch measurement cover
# them, and through them every block of the disk (docs/security.md).
if [ -f "$out/runtime.json" ]; then
	rt_param=$(cat "$out/runtime.cmdline" 2>/dev/null) ||
		die "$out/runtime.cmdline is missing: run deploy/runtime-image.sh $out again"
	case "$rt_param" in
	ditto.runtime=*[!0-9a-z,=.-]*) die "$out/runtime.cmdline is malformed" ;;
	ditto.runtime=?*) CMDLINE="$CMDLINE $rt_param" ;;
	*) die "$out/runtime.cmdline is malformed" ;;
	esac
fi
printf '%s\n' "$CMDLINE" >"$out/cmdline"
kernel_sha=$(sha256sum <"$out/vmlinux" | cut -d' ' -f1)
bzimage_sha=$(sha256sum <"$out/vmlinuz" | cut -d' ' -f1)
initrd_sha=$(sha256sum <"$out/initramfs.cpio.gz" | cut -d' ' -f1)
digest=$(cat "$out/vmlinux" "$out/initramfs.cpio.gz" <(printf '%s' "$CMDLINE") |
	sha256sum | cut -d' ' -f1)
runtime_field=
if [ -f "$out/runtime.json" ]; then
	runtime_field="  \"runtime\": $(cat "$out/runtime.json"),"$'\n'
fi
cat >"$out/image.json.tmp" <<EOF
{
  "kernel_version": "$kver",
  "kernel_sha256": "$kernel_sha",
  "vmlinuz_sha256": "$bzimage_sha",
  "initramfs_sha256": "$initrd_sha",
  "kernel_flavour": "$FLAVOUR",
  "sev_guest": $sev_guest,
  "cmdline": "$CMDLINE",
$runtime_field  "image_digest": "$digest"
}
EOF
mv "$out/image.json.tmp" "$out/image.json"

printf 'guest-image: kernel %s vmlinux %s bytes, initramfs %s bytes, sev-guest %s, digest %s\n' \
	"$kver" "$(stat -c %s "$out/vmlinux")" "$(stat -c %s "$out/initramfs.cpio.gz")" \
	"$sev_guest" "$digest"
