/* Test support for the guest worker's kernel side: a fake sysfs tree of
 * plain files in a temporary folder, with the layout of
 * <sysfs>/devices/system/cpu that the guest reads and writes; kernel-format
 * CPU uevents sent on a datagram socket; and the files, processes and CPUs of
 * the host the tests run on. Failures end the running cmocka test. */
#ifndef DITTO_TESTS_GUEST_SYSFS_H
#define DITTO_TESTS_GUEST_SYSFS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* Generous: the machine may be busy running VMs under TCG. */
#define GUEST_DEADLINE_MS 30000

/* ---- files and processes ------------------------------------------------ */

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t guest_now_ms(void);

/* Creates or replaces path with text. */
void guest_write_file(const char *path, const char *text);

/* The whole of path (malloc'd, NUL-terminated), or NULL when it cannot be
 * read. */
char *guest_read_file(const char *path);

/* True when the host lets this process run on cpu. */
bool guest_host_has_cpu(int cpu);

/* Waits up to timeout_ms until pid has terminated (is a zombie or gone). */
bool guest_pid_gone(pid_t pid, int timeout_ms);

/* Waits for the child pid to end and asserts it exited with status 0. */
void guest_child_exits_cleanly(pid_t pid);

/* Asserts both pids of "<child> <parent>" (as a script prints them) are
 * gone within the deadline. */
void guest_assert_pids_gone(const char *text);

/* ---- the fake sysfs tree and uevents ------------------------------------- */

struct fake_sysfs {
	char dir[64];     /* the temporary folder holding the tree */
	char sys[128];    /* the sysfs root to give the code under test */
	char cpudir[192]; /* <sys>/devices/system/cpu */
};

/* Makes a tree in a new temporary folder with the CPU lists "possible",
 * "present" and "online" (NULL: "0-3", "0-3", "0"; lists of the form "a" or
 * "a-b"), and a cpuN folder for each present CPU (see fake_cpu_create). */
void fake_sysfs_create(struct fake_sysfs *fs, const char *possible, const char *present,
		       const char *online);

/* Removes the tree and its folder. */
void fake_sysfs_remove(struct fake_sysfs *fs);

/* Creates cpuN, with an "online" file except for CPU 0 (as on a real
 * kernel, CPU 0 cannot be offlined). */
void fake_cpu_create(const struct fake_sysfs *fs, int cpu, bool online);

/* Writes the CPU's "online" file (the kernel's view, as the test sets it). */
void fake_cpu_online(const struct fake_sysfs *fs, int cpu, bool online);

/* Reads the CPU's "online" file (as the code under test left it). */
bool fake_cpu_is_online(const struct fake_sysfs *fs, int cpu);

/* Writes the CPU list name ("possible", "present", "online"). */
void fake_cpu_list(const struct fake_sysfs *fs, const char *name, const char *list);

/* Sends a kernel-format uevent for CPU cpu ("add", "remove", "online",
 * "offline") on the datagram socket fd. */
void fake_uevent_send(int fd, const char *action, int cpu);

#endif
