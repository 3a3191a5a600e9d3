/* Test support for the guest worker (ditto-guest):
 *   - a fake sysfs tree of plain files in a temporary folder, with the
 *     layout of <sysfs>/devices/system/cpu that the guest reads and writes,
 *     and kernel-format CPU uevents to send on a datagram socket;
 *   - a peer that runs the real daemon (daemon_run() in a forked child)
 *     against such a tree and a temporary artifact folder, and plays the
 *     agent over a socketpair and the kernel over the uevent socket.
 * Failures end the running cmocka test. */
#ifndef DITTO_TESTS_GUEST_HARNESS_H
#define DITTO_TESTS_GUEST_HARNESS_H

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
#include <jansson.h>

#include "sha256.h"
#include "wire.h"

/* Generous: the machine may be busy running VMs under TCG. */
#define GUEST_DEADLINE_MS 30000

/* ---- files and processes ------------------------------------------------ */

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t guest_now_ms(void);

/* Makes a fresh folder /tmp/ditto-guest-test-XXXXXX into dir (64 bytes). */
void guest_tmpdir(char dir[64]);

/* Removes dir and everything below it. */
void guest_rm_tree(const char *dir);

/* Creates or replaces path with text. */
void guest_write_file(const char *path, const char *text);

/* The first 4095 bytes of path (malloc'd, NUL-terminated), or NULL when it
 * cannot be opened. */
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

/* ---- the peer: the daemon in a child, the test as agent and kernel ------- */

/* One frame from the daemon. */
struct guest_msg {
	struct wire_header hdr;
	json_t *meta;
	uint8_t *body; /* body_len bytes and a NUL */
	size_t body_len;
	struct guest_msg *next;
};

struct peer {
	pid_t pid;
	int fd;        /* our end of the channel */
	int uevent_fd; /* our end of the uevent socket */
	struct fake_sysfs fs;
	char art[128]; /* the daemon's artifact folder */
	struct wire_decoder dec;
	uint32_t next_id;
	struct guest_msg *saved; /* frames received while waiting for another */
	struct guest_msg hello;
};

struct peer_opts {
	const char *possible, *present, *online; /* CPU lists; default 0-3, 0-3, 0 */
	uint32_t max_body;			 /* 0: the protocol limit */
	size_t queue_max;			 /* 0: the default */
};

/* Makes the sysfs tree and artifact folder, starts the daemon and waits for
 * its HELLO (kept in p->hello). o may be NULL. */
void peer_start_opts(struct peer *p, const struct peer_opts *o);
void peer_start(struct peer *p);

/* Forks a second daemon on p's tree and artifacts, with port_fd as its
 * channel (EOF ends it when eof_ends) and a copy of p's uevent socket; the
 * child first closes close_fd unless it is -1 (the test's end of the
 * channel). Returns its pid. */
pid_t peer_fork_daemon(struct peer *p, int port_fd, bool eof_ends, int close_fd);

/* Closes the channel, which ends the daemon, checks it exits cleanly and
 * removes its folders. */
void peer_stop(struct peer *p);

/* cmocka fixtures: a started peer in *state (skipping the test when the host
 * has no CPU 1 for the daemon's worker), also with CPU 1 active; and its
 * stop. */
int peer_setup(void **state);
int peer_setup_active(void **state);
int peer_teardown(void **state);

/* Receives the next frame within the deadline. */
void peer_recv_raw(struct peer *p, struct guest_msg *ret);

/* Receives the frame with this id (a reply or an error), keeping others. For
 * id 0, the next unsolicited frame of type type0. */
void peer_wait(struct peer *p, uint32_t id, uint8_t type0, struct guest_msg *ret);

void peer_send_raw(struct peer *p, const void *data, size_t len);

/* Sends a request and returns its id. */
uint32_t peer_send(struct peer *p, uint8_t type, const char *meta, const void *body,
		   size_t body_len);

/* Sends a request and waits for its answer; asserts its type. */
void peer_call(struct peer *p, uint8_t type, const char *meta, const void *body,
	       size_t body_len, uint8_t want_type, struct guest_msg *ret);

/* Expects a WIRE_ERROR with this code in answer to a request. */
void peer_expect_error(struct peer *p, uint8_t type, const char *meta, const void *body,
		       size_t body_len, const char *code);

void peer_ping(struct peer *p);

/* Uploads a script and returns its digest. */
void peer_put_script(struct peer *p, const char *script, char digest[SHA256_HEX_SIZE]);

/* Activates a worker CPU and checks the reply. */
void peer_activate(struct peer *p, int cpu);

/* Sends an invocation; returns its id. extra is more meta fields or "". */
uint32_t peer_invoke_send(struct peer *p, const char *digest, const char *extra,
			  const char *input);

/* Invokes and waits for a WIRE_REPLY with this status (any when NULL). */
void peer_invoke(struct peer *p, const char *digest, const char *extra, const char *input,
		 const char *want_status, struct guest_msg *ret);

/* Invokes, asserts the reply's status and, unless want_result is NULL, its
 * result. */
void peer_invoke_expect(struct peer *p, const char *digest, const char *extra, const char *input,
			const char *want_status, const char *want_result);

/* ---- frames -------------------------------------------------------------- */

void guest_msg_free(struct guest_msg *m);

/* Meta fields that must be there with this type. */
json_int_t guest_msg_int(const struct guest_msg *m, const char *key);
const char *guest_msg_str(const struct guest_msg *m, const char *key);
bool guest_msg_bool(const struct guest_msg *m, const char *key);

/* The result part of an invocation reply's body (malloc'd string). */
char *guest_msg_result(const struct guest_msg *m);

/* The log part of an invocation reply's body. */
const char *guest_msg_log(const struct guest_msg *m);

#endif
