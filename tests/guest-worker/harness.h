/* Test peer for the guest worker: runs the real daemon (daemon_run() in a
 * forked child) against a temporary sysfs tree of plain files and a temporary
 * artifact directory, and plays the agent over a socketpair and the kernel
 * over a datagram socket carrying uevent-formatted messages.
 *
 * Included by each test file; functions are static and may go unused. */
#ifndef DITTO_TEST_GUEST_HARNESS_H
#define DITTO_TEST_GUEST_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "sha256.h"
#include "wire.h"

#define HARNESS_FN static __attribute__((unused))
/* Generous: the machine may be busy running VMs under TCG. */
#define DEADLINE_MS 30000

struct msg {
	struct wire_header hdr;
	json_t *meta;
	uint8_t *body;
	size_t body_len;
	struct msg *next;
};

struct peer {
	pid_t pid;
	int fd;        /* our end of the channel */
	int uevent_fd; /* our end of the uevent socket */
	char dir[64], sys[128], art[128], cpudir[192];
	struct wire_decoder dec;
	uint32_t next_id;
	struct msg *saved; /* frames received while waiting for another */
	struct msg hello;
};

struct peer_opts {
	const char *possible, *present, *online; /* CPU lists; default 0-3, 0-3, 0 */
	uint32_t max_body;                       /* 0: the protocol limit */
	size_t queue_max;                        /* 0: the default */
};

HARNESS_FN uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

HARNESS_FN void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

HARNESS_FN char *read_file_alloc(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *s = calloc(1, 4096);
	assert_non_null(s);
	size_t n = fread(s, 1, 4095, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* Writes the CPU's fake "online" file (the kernel's view, as the tests set it). */
HARNESS_FN void fake_cpu_online(struct peer *p, int cpu, bool online)
{
	char path[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/cpu%d/online", p->cpudir, cpu);
	write_file(path, online ? "1\n" : "0\n");
}

HARNESS_FN bool fake_cpu_is_online(struct peer *p, int cpu)
{
	char path[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/cpu%d/online", p->cpudir, cpu);
	char *s = read_file_alloc(path);
	assert_non_null(s);
	bool on = s[0] == '1';
	free(s);
	return on;
}

/* Creates cpuN (with an "online" file, except for CPU 0 as on a real kernel). */
HARNESS_FN void fake_cpu_create(struct peer *p, int cpu, bool online)
{
	char path[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/cpu%d", p->cpudir, cpu);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	if (cpu != 0)
		fake_cpu_online(p, cpu, online);
}

HARNESS_FN void fake_cpu_list(struct peer *p, const char *name, const char *list)
{
	char path[PATH_MAX + 128], text[256];
	snprintf(path, sizeof(path), "%s/%s", p->cpudir, name);
	snprintf(text, sizeof(text), "%s\n", list);
	write_file(path, text);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

HARNESS_FN void msg_free(struct msg *m)
{
	json_decref(m->meta);
	free(m->body);
	*m = (struct msg){ 0 };
}

/* Receives the next frame within the deadline. */
HARNESS_FN void peer_recv_raw(struct peer *p, struct msg *ret)
{
	uint64_t deadline = now_ms() + DEADLINE_MS;
	for (;;) {
		struct wire_frame f;
		int r = wire_decoder_next(&p->dec, &f);
		if (r == 1) {
			json_error_t jerr;
			*ret = (struct msg){ .hdr = f.hdr, .body_len = f.hdr.body_len };
			ret->meta = json_loadb(f.meta, f.hdr.meta_len, 0, &jerr);
			if (!ret->meta)
				fail_msg("bad meta from the daemon: %s", jerr.text);
			ret->body = malloc(f.hdr.body_len + 1);
			assert_non_null(ret->body);
			memcpy(ret->body, f.body, f.hdr.body_len);
			ret->body[f.hdr.body_len] = '\0';
			return;
		}
		assert_int_equal(r, 0);
		uint64_t now = now_ms();
		if (now >= deadline)
			fail_msg("no frame from the daemon within %d ms", DEADLINE_MS);
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		int n = poll(&pfd, 1, (int)(deadline - now));
		if (n <= 0)
			continue;
		uint8_t buf[65536];
		ssize_t k = read(p->fd, buf, sizeof(buf));
		if (k == 0)
			fail_msg("the daemon closed the channel");
		assert_true(k > 0);
		assert_int_equal(wire_decoder_feed(&p->dec, buf, (size_t)k), 0);
	}
}

/* Receives the frame with this id (a reply or an error), keeping others. For
 * id 0, the next unsolicited frame of the given type. */
HARNESS_FN void peer_wait(struct peer *p, uint32_t id, uint8_t type0, struct msg *ret)
{
	for (;;) {
		for (struct msg **s = &p->saved; *s; s = &(*s)->next) {
			struct msg *m = *s;
			if (m->hdr.id == id && (id != 0 || m->hdr.type == type0)) {
				*s = m->next;
				*ret = *m;
				ret->next = NULL;
				free(m);
				return;
			}
		}
		struct msg m;
		peer_recv_raw(p, &m);
		if (m.hdr.id == id && (id != 0 || m.hdr.type == type0)) {
			*ret = m;
			return;
		}
		struct msg *keep = malloc(sizeof(*keep));
		assert_non_null(keep);
		*keep = m;
		struct msg **tail = &p->saved;
		while (*tail)
			tail = &(*tail)->next;
		*tail = keep;
	}
}

HARNESS_FN void peer_send_raw(struct peer *p, const void *data, size_t len)
{
	const uint8_t *d = data;
	while (len > 0) {
		ssize_t n = write(p->fd, d, len);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		d += n;
		len -= (size_t)n;
	}
}

/* Sends a request and returns its id. */
HARNESS_FN uint32_t peer_send(struct peer *p, uint8_t type, const char *meta, const void *body,
			      size_t body_len)
{
	uint32_t id = ++p->next_id;
	uint8_t *f;
	size_t n;
	assert_int_equal(wire_encode(type, id, meta, strlen(meta), body, body_len, &f, &n), 0);
	peer_send_raw(p, f, n);
	free(f);
	return id;
}

/* Sends a request and waits for its answer; asserts its type. */
HARNESS_FN void peer_call(struct peer *p, uint8_t type, const char *meta, const void *body,
			  size_t body_len, uint8_t want_type, struct msg *ret)
{
	uint32_t id = peer_send(p, type, meta, body, body_len);
	peer_wait(p, id, 0, ret);
	if (ret->hdr.type != want_type) {
		char *text = json_dumps(ret->meta, 0);
		fail_msg("reply type %u, wanted %u: %s", ret->hdr.type, want_type, text);
	}
}

HARNESS_FN json_int_t meta_int(const struct msg *m, const char *key)
{
	json_t *v = json_object_get(m->meta, key);
	if (!json_is_integer(v))
		fail_msg("meta has no integer \"%s\"", key);
	return json_integer_value(v);
}

HARNESS_FN const char *meta_str(const struct msg *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m->meta, key));
	if (!s)
		fail_msg("meta has no string \"%s\"", key);
	return s;
}

HARNESS_FN bool meta_bool(const struct msg *m, const char *key)
{
	json_t *v = json_object_get(m->meta, key);
	if (!json_is_boolean(v))
		fail_msg("meta has no boolean \"%s\"", key);
	return json_is_true(v);
}

/* Expects a WIRE_ERROR with this code in answer to a request. */
HARNESS_FN void peer_expect_error(struct peer *p, uint8_t type, const char *meta, const void *body,
				  size_t body_len, const char *code)
{
	struct msg m;
	peer_call(p, type, meta, body, body_len, WIRE_ERROR, &m);
	assert_string_equal(meta_str(&m, "code"), code);
	assert_true(strlen(meta_str(&m, "message")) > 0);
	msg_free(&m);
}

HARNESS_FN void peer_ping(struct peer *p)
{
	struct msg m;
	peer_call(p, WIRE_PING, "{}", NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(json_object_size(m.meta), 0);
	msg_free(&m);
}

HARNESS_FN void peer_start_opts(struct peer *p, const struct peer_opts *o)
{
	*p = (struct peer){ .fd = -1, .uevent_fd = -1 };
	snprintf(p->dir, sizeof(p->dir), "/tmp/ditto-guest-test-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->sys, sizeof(p->sys), "%s/sys", p->dir);
	snprintf(p->art, sizeof(p->art), "%s/artifacts", p->dir);
	snprintf(p->cpudir, sizeof(p->cpudir), "%s/devices/system/cpu", p->sys);
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p->cpudir);
	assert_int_equal(system(cmd), 0);

	const char *possible = o && o->possible ? o->possible : "0-3";
	const char *present = o && o->present ? o->present : "0-3";
	const char *online = o && o->online ? o->online : "0";
	fake_cpu_list(p, "possible", possible);
	fake_cpu_list(p, "present", present);
	fake_cpu_list(p, "online", online);
	cpu_set_t pres, onl;
	CPU_ZERO(&pres);
	CPU_ZERO(&onl);
	/* Small lists only: "a-b" or "a". */
	int a, b;
	if (sscanf(present, "%d-%d", &a, &b) == 2)
		for (int i = a; i <= b; i++)
			CPU_SET(i, &pres);
	else if (sscanf(present, "%d", &a) == 1)
		CPU_SET(a, &pres);
	if (sscanf(online, "%d-%d", &a, &b) == 2)
		for (int i = a; i <= b; i++)
			CPU_SET(i, &onl);
	else if (sscanf(online, "%d", &a) == 1)
		CPU_SET(a, &onl);
	for (int i = 0; i < 64; i++)
		if (CPU_ISSET(i, &pres))
			fake_cpu_create(p, i, CPU_ISSET(i, &onl));

	int ch[2], ue[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ue), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ch[0]);
		close(ue[0]);
		log_threshold = getenv("DITTO_TEST_VERBOSE") ? LOG_DEBUG : LOG_WARN;
		struct daemon_config cfg;
		daemon_config_defaults(&cfg);
		cfg.port_fd = ch[1];
		cfg.port_eof_ends = true;
		cfg.sysfs_root = p->sys;
		cfg.artifact_dir = p->art;
		cfg.uevent_fd = ue[1];
		if (o && o->max_body)
			cfg.max_body = o->max_body;
		if (o && o->queue_max)
			cfg.queue_max = o->queue_max;
		exit(daemon_run(&cfg) < 0 ? 1 : 0);
	}
	close(ch[1]);
	close(ue[1]);
	p->pid = pid;
	p->fd = ch[0];
	p->uevent_fd = ue[0];
	wire_decoder_init(&p->dec, WIRE_MAX_BODY);
	peer_wait(p, 0, WIRE_HELLO, &p->hello);
}

HARNESS_FN void peer_start(struct peer *p)
{
	peer_start_opts(p, NULL);
}

/* Waits until pid has terminated (is a zombie or gone). */
HARNESS_FN bool pid_wait_gone(pid_t pid, int timeout_ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n = poll(&pfd, 1, timeout_ms);
	close(fd);
	return n == 1;
}

/* Closes the channel, which ends the daemon, and checks it exits cleanly. */
HARNESS_FN void peer_stop(struct peer *p)
{
	close(p->fd);
	close(p->uevent_fd);
	assert_true(pid_wait_gone(p->pid, DEADLINE_MS));
	int status;
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	msg_free(&p->hello);
	while (p->saved) {
		struct msg *m = p->saved;
		p->saved = m->next;
		msg_free(m);
		free(m);
	}
	wire_decoder_free(&p->dec);
	nftw(p->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Uploads a script and returns its digest. */
HARNESS_FN void peer_put_script(struct peer *p, const char *script, char digest[SHA256_HEX_SIZE])
{
	sha256_hex(script, strlen(script), digest);
	char meta[128];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"}", digest);
	struct msg m;
	peer_call(p, WIRE_ARTIFACT_PUT, meta, script, strlen(script), WIRE_REPLY, &m);
	assert_string_equal(meta_str(&m, "digest"), digest);
	assert_int_equal(meta_int(&m, "size"), strlen(script));
	msg_free(&m);
}

HARNESS_FN void peer_activate(struct peer *p, int cpu)
{
	char meta[64];
	snprintf(meta, sizeof(meta), "{\"cpu\":%d}", cpu);
	struct msg m;
	peer_call(p, WIRE_CPU_ACTIVATE, meta, NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(meta_int(&m, "cpu"), cpu);
	assert_true(meta_int(&m, "online_us") >= 0);
	assert_true(meta_int(&m, "probe_us") >= 0);
	msg_free(&m);
}

/* Sends an invocation; returns its id. extra is more meta fields or "". */
HARNESS_FN uint32_t peer_invoke_send(struct peer *p, const char *digest, const char *extra,
				     const char *input)
{
	char meta[512];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"%s%s}", digest, extra[0] ? "," : "", extra);
	return peer_send(p, WIRE_INVOKE, meta, input, strlen(input));
}

HARNESS_FN void peer_invoke(struct peer *p, const char *digest, const char *extra,
			    const char *input, struct msg *ret)
{
	uint32_t id = peer_invoke_send(p, digest, extra, input);
	peer_wait(p, id, 0, ret);
	if (ret->hdr.type != WIRE_REPLY) {
		char *text = json_dumps(ret->meta, 0);
		fail_msg("invocation failed: %s", text);
	}
}

/* The result part of an invocation reply's body, as a string. */
HARNESS_FN char *reply_result(const struct msg *m)
{
	size_t n = (size_t)meta_int(m, "result_len");
	assert_true(n <= m->body_len);
	char *s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, m->body, n);
	s[n] = '\0';
	return s;
}

/* The log part of an invocation reply's body, as a string. */
HARNESS_FN const char *reply_log(const struct msg *m)
{
	return (const char *)m->body + meta_int(m, "result_len");
}

/* True when the host lets this process run on cpu. */
HARNESS_FN bool host_has_cpu(int cpu)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_ISSET(cpu, &set);
}

#endif
