/* The kernel's CPU interface as the guest worker uses it: the lists and the
 * per-CPU "online" files under <sysfs>/devices/system/cpu, kobject uevents
 * for CPU hotplug, and the probe that proves a thread can run on a CPU.
 *
 * Every sysfs function takes the sysfs root ("/sys" in production) so tests
 * can point it at a directory tree of plain files with the same layout. */
#ifndef DITTO_GUEST_CPU_SYSFS_H
#define DITTO_GUEST_CPU_SYSFS_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* Parses a kernel CPU list such as "0-3,5,7-8" (an empty string is an empty
 * set). Returns 0 or -EINVAL (also for CPUs >= CPU_SETSIZE). */
int cpu_list_parse(const char *s, cpu_set_t *ret);

/* Reads <root>/devices/system/cpu/<name>, name being "online", "possible" or
 * "present". Returns 0 or -errno. */
int cpu_list_read(const char *root, const char *name, cpu_set_t *ret);

/* Reads <root>/devices/system/cpu/cpuN/online. A CPU without that file (CPU 0
 * usually cannot be offlined) is online when its cpuN directory exists.
 * Returns 0, -ENOENT when there is no such CPU, or -errno. */
int cpu_online_read(const char *root, int cpu, bool *ret_online);

/* Writes 1 or 0 to <root>/devices/system/cpu/cpuN/online. On a real kernel
 * this is slow (tens of ms under TCG) and blocks: call it off the event loop.
 * Returns 0 or -errno from the kernel (EBUSY, EINVAL, ...). */
int cpu_online_write(const char *root, int cpu, bool online);

/* Moves the calling thread onto cpu, checks it runs there and moves it back
 * to the CPUs it was allowed before. Returns 0 and the time the move took,
 * -EINVAL when the CPU cannot be used, or -EAGAIN when the thread did not end
 * up there. */
int cpu_probe(int cpu, uint64_t *ret_us);

enum cpu_uevent_action {
	CPU_UEVENT_ADD,
	CPU_UEVENT_REMOVE,
	CPU_UEVENT_ONLINE,
	CPU_UEVENT_OFFLINE,
};

/* Opens a NETLINK_KOBJECT_UEVENT socket bound to the kernel's multicast
 * group (non-blocking, close-on-exec). Returns 0 or -errno. */
int cpu_uevent_open(int *ret_fd);

/* Receives one uevent datagram into buf (size > 1; NUL-terminated). When
 * kernel_only is set, messages not sent by the kernel (netlink port id 0)
 * are refused with -EPERM. Returns its length, -EAGAIN, -ENOBUFS when the
 * kernel dropped events (resynchronise from sysfs), or -errno. */
ssize_t cpu_uevent_recv(int fd, bool kernel_only, char *buf, size_t size);

/* Parses a kernel uevent ("ACTION@DEVPATH\0KEY=VALUE\0...") for a CPU device
 * (/devices/system/cpu/cpuN). Returns 0, or -ENOENT for any other uevent. */
int cpu_uevent_parse(const char *msg, size_t len, enum cpu_uevent_action *ret_action, int *ret_cpu);

/* WIRE_HELLO's meta (lib/wire.h) from the CPU lists under root and
 * /proc/uptime, or NULL when out of memory; ret_counts gets the online,
 * present and possible counts and ret_uptime_ms the uptime, for the log. */
json_t *cpu_sysfs_hello(const char *root, int ret_counts[3], double *ret_uptime_ms);

#endif
