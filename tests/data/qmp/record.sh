#!/bin/bash
# Records real QMP traffic from QEMU into this folder, one file per scenario,
# each holding the bytes QEMU sent, line by line ("\r\n" kept).
#
#   tests/data/qmp/record.sh KERNEL [INITRD]
#
# KERNEL must handle ACPI CPU hotplug (e.g. Debian's cloud kernel). Without
# INITRD a tiny busybox-static one is built (its /init mounts proc, sysfs and
# devtmpfs, says "ready" on the console and sleeps). Needs qemu-system-x86_64,
# python3, busybox (static), cpio and gzip; run as root (mknod /dev/console).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kernel=${1:?usage: record.sh KERNEL [INITRD]}
initrd=${2:-}
qemu=${QEMU:-qemu-system-x86_64}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "$initrd" ]; then
	root=$work/root
	mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys"
	cp "$(command -v busybox)" "$root/bin/busybox"
	mknod "$root/dev/console" c 5 1
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
echo "record-guest ready"
exec /bin/busybox sleep 1000000
EOF
	chmod 0755 "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$work/initramfs.cpio.gz"
	initrd=$work/initramfs.cpio.gz
fi

python3 - "$qemu" "$kernel" "$initrd" "$work" "$here" <<'EOF'
import json, os, socket, subprocess, sys, time

qemu, kernel, initrd, work, out = sys.argv[1:6]
sock_path = os.path.join(work, "qmp.sock")
console = os.path.join(work, "console.log")
DEADLINE = 120.0

srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(1)
# The same way the agent runs QEMU: it listens, QEMU connects as a client.
vm = subprocess.Popen([
    qemu, "-machine", "q35,accel=tcg", "-cpu", "max", "-m", "512",
    "-smp", "1,maxcpus=4", "-nodefaults", "-no-user-config", "-display", "none",
    "-serial", "file:" + console, "-kernel", kernel, "-initrd", initrd,
    "-append", "console=ttyS0 maxcpus=1",
    "-chardev", "socket,id=qmp,path=" + sock_path + ",server=off",
    "-mon", "chardev=qmp,mode=control"])
srv.settimeout(DEADLINE)
conn, _ = srv.accept()
conn.settimeout(DEADLINE)
rbuf = b""
next_id = 1
scenario = None


def read_line():
    """Returns the next raw line (with its terminator) and records it."""
    global rbuf
    while b"\n" not in rbuf:
        chunk = conn.recv(65536)
        if not chunk:
            raise SystemExit("QEMU hung up")
        rbuf += chunk
    line, rbuf = rbuf.split(b"\n", 1)
    line += b"\n"
    scenario.write(line)
    return json.loads(line)


def send(cmd, args=None):
    global next_id
    msg = {"execute": cmd}
    if args is not None:
        msg["arguments"] = args
    msg["id"] = next_id
    next_id += 1
    conn.sendall(json.dumps(msg).encode() + b"\r\n")
    return msg["id"]


def execute(cmd, args=None, events=None):
    """Sends a command and reads up to its reply; events go to the list."""
    cid = send(cmd, args)
    while True:
        msg = read_line()
        if "event" in msg:
            if events is not None:
                events.append(msg)
        elif msg.get("id") == cid:
            return msg


def begin(name):
    global scenario
    if scenario:
        scenario.close()
    scenario = open(os.path.join(out, name + ".txt"), "wb")


def wait_console(text):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            with open(console, errors="replace") as f:
                if text in f.read():
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    raise SystemExit("guest did not print " + repr(text))



def read_until_event(events, name):
    """Reads lines into events until an event called name is among them."""
    end = time.monotonic() + DEADLINE
    while not any(e["event"] == name for e in events):
        if time.monotonic() > end:
            raise SystemExit("no %s event" % name)
        events.append(read_line())

begin("greeting")
read_line()
execute("qmp_capabilities")

wait_console("record-guest ready")

begin("hotplug")
slots = execute("query-hotpluggable-cpus")["return"]
free = [s for s in slots if "qom-path" not in s]
slot = sorted(free, key=lambda s: s["props"]["core-id"])[0]
args = {"driver": slot["type"], "id": "wcpu1"}
args.update(slot["props"])
events = []
execute("device_add", args, events)
# The guest acknowledges the insert with an ACPI _OST; wait for it.
read_until_event(events, "ACPI_DEVICE_OST")
execute("query-hotpluggable-cpus")
execute("query-cpus-fast")

begin("unplug")
events = []
execute("device_del", {"id": "wcpu1"}, events)
# Keep asking while the guest ejects the CPU, so that the events arrive
# interleaved with replies, as they do in the agent.
end = time.monotonic() + DEADLINE
while True:
    names = [(e["event"], e.get("data", {}).get("info", {}).get("status")) for e in events]
    if ("ACPI_DEVICE_OST", 0) in names and any(n == "DEVICE_DELETED" for n, _ in names):
        break
    if time.monotonic() > end:
        raise SystemExit("unplug events incomplete: %r" % names)
    execute("query-hotpluggable-cpus", None, events)
    time.sleep(0.02)
execute("query-hotpluggable-cpus", None, events)
execute("query-cpus-fast", None, events)

begin("errors")
bad = dict(args, **{"core-id": 9})
execute("device_add", bad)
execute("no-such-command")
execute("device_del", {"id": "no-such-device"})

begin("stop-cont")
events = []
execute("stop", None, events)
execute("cont", None, events)
read_until_event(events, "RESUME")

begin("quit")
execute("quit")
# QEMU reports SHUTDOWN, replies and hangs up (sometimes with a reset).
try:
    while True:
        read_line()
except (SystemExit, ConnectionError):
    pass
scenario.close()
vm.wait(timeout=DEADLINE)
version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
print(version.splitlines()[0])
EOF
