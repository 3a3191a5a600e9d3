/* Unit tests for the guest worker's building blocks: CPU lists and uevents,
 * the sysfs CPU files, the helper thread, the artifact store, port lookup,
 * process spawning (with its memory limit) and the event loop. */
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "support/files.h"
#include "support/guest_harness.h"

#include "artifact.h"
#include "channel.h"
#include "cpu_sysfs.h"
#include "cpu_helper.h"
#include "loop.h"
#include "proc.h"

/* A temporary directory removed at teardown. */
static int tmpdir_setup(void **state)
{
	char *dir = malloc(64);
	assert_non_null(dir);
	assert_int_equal(scratch_dir(dir, 64, "guest-test"), 0);
	*state = dir;
	return 0;
}

static int tmpdir_teardown(void **state)
{
	remove_tree(*state);
	free(*state);
	return 0;
}

static void mkdirs(const char *dir, const char *sub)
{
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", dir, sub);
	assert_int_equal(system(cmd), 0);
}

static void put(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	guest_write_file(path, text);
}

static void test_cpu_list_parse(void **state)
{
	cpu_set_t s;
	assert_int_equal(cpu_list_parse("0", &s), 0);
	assert_int_equal(CPU_COUNT(&s), 1);
	assert_true(CPU_ISSET(0, &s));
	assert_int_equal(cpu_list_parse("0-3,5,7-8\n", &s), 0);
	assert_int_equal(CPU_COUNT(&s), 7);
	assert_true(CPU_ISSET(3, &s) && CPU_ISSET(5, &s) && CPU_ISSET(8, &s));
	assert_false(CPU_ISSET(4, &s) || CPU_ISSET(6, &s));
	assert_int_equal(cpu_list_parse("", &s), 0);
	assert_int_equal(CPU_COUNT(&s), 0);
	assert_int_equal(cpu_list_parse("0-287", &s), 0);
	assert_int_equal(CPU_COUNT(&s), 288);

	CPU_ZERO(&s);
	CPU_SET(9, &s);
	const char *bad[] = { "0-",
			      "a",
			      "3-1",
			      "1,,2",
			      "1 2",
			      "-1",
			      "4096",
			      "1-99999",
			      "+1",
			      " 1",
			      "1-+2",
			      "0x1",
			      "99999999999999999999999" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(cpu_list_parse(bad[i], &s), -EINVAL);
	/* Untouched on failure. */
	assert_int_equal(CPU_COUNT(&s), 1);
	assert_true(CPU_ISSET(9, &s));
}

static void test_cpu_uevent_parse(void **state)
{
	enum cpu_uevent_action a;
	int cpu;
	static const char add[] = "add@/devices/system/cpu/cpu12\0ACTION=add\0SUBSYSTEM=cpu";
	assert_int_equal(cpu_uevent_parse(add, sizeof(add), &a, &cpu), 0);
	assert_int_equal(a, CPU_UEVENT_ADD);
	assert_int_equal(cpu, 12);
	static const char rm[] = "remove@/devices/system/cpu/cpu3\0ACTION=remove";
	assert_int_equal(cpu_uevent_parse(rm, sizeof(rm), &a, &cpu), 0);
	assert_int_equal(a, CPU_UEVENT_REMOVE);
	assert_int_equal(cpu, 3);
	static const char on[] = "online@/devices/system/cpu/cpu1";
	assert_int_equal(cpu_uevent_parse(on, sizeof(on), &a, &cpu), 0);
	assert_int_equal(a, CPU_UEVENT_ONLINE);
	static const char off[] = "offline@/devices/system/cpu/cpu1";
	assert_int_equal(cpu_uevent_parse(off, sizeof(off), &a, &cpu), 0);
	assert_int_equal(a, CPU_UEVENT_OFFLINE);

	static const char *const others[] = {
		"add@/devices/system/memory/memory1",
		"add@/devices/system/cpu/cpufreq",
		"add@/devices/system/cpu/cpu1/cache/index0",
		"change@/devices/system/cpu/cpu1",
		"add@/devices/system/cpu/cpu",
		"libudev",
	};
	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		assert_int_equal(cpu_uevent_parse(others[i], strlen(others[i]) + 1, &a, &cpu),
				 -ENOENT);
	/* Not NUL-terminated within the datagram. */
	assert_int_equal(cpu_uevent_parse(on, strlen(on), &a, &cpu), -ENOENT);
}

static void test_cpu_sysfs(void **state)
{
	const char *root = *state;
	mkdirs(root, "devices/system/cpu/cpu0");
	mkdirs(root, "devices/system/cpu/cpu1");
	put(root, "devices/system/cpu/online", "0\n");
	put(root, "devices/system/cpu/present", "0-1\n");
	put(root, "devices/system/cpu/cpu1/online", "0\n");

	cpu_set_t s;
	assert_int_equal(cpu_list_read(root, "present", &s), 0);
	assert_int_equal(CPU_COUNT(&s), 2);
	assert_int_equal(cpu_list_read(root, "possible", &s), -ENOENT);

	bool online = true;
	assert_int_equal(cpu_online_read(root, 1, &online), 0);
	assert_false(online);
	/* CPU 0 has no "online" file: it is always online. */
	assert_int_equal(cpu_online_read(root, 0, &online), 0);
	assert_true(online);
	assert_int_equal(cpu_online_read(root, 5, &online), -ENOENT);

	assert_int_equal(cpu_online_write(root, 1, true), 0);
	assert_int_equal(cpu_online_read(root, 1, &online), 0);
	assert_true(online);
	assert_int_equal(cpu_online_write(root, 1, false), 0);
	assert_int_equal(cpu_online_read(root, 1, &online), 0);
	assert_false(online);
	assert_int_equal(cpu_online_write(root, 5, true), -ENOENT);

	put(root, "devices/system/cpu/cpu1/online", "maybe\n");
	assert_int_equal(cpu_online_read(root, 1, &online), -EINVAL);
}

static void test_cpu_probe(void **state)
{
	uint64_t us = 12345;
	if (guest_host_has_cpu(1)) {
		cpu_set_t before, after;
		assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
		assert_int_equal(cpu_probe(1, &us), 0);
		assert_true(us < 12345 * 1000);
		/* The thread's affinity is restored. */
		assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
		assert_true(CPU_EQUAL(&before, &after));
	}
	assert_int_equal(cpu_probe(CPU_SETSIZE - 1, &us), -EINVAL);
	assert_int_equal(cpu_probe(-1, &us), -EINVAL);
}

static struct cpu_job *wait_job(struct cpu_helper *h)
{
	struct pollfd pfd = { .fd = h->efd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, GUEST_DEADLINE_MS), 1);
	struct cpu_job *j = cpu_helper_take_done(h);
	assert_non_null(j);
	assert_null(j->next);
	return j;
}

static void test_cpu_helper_thread(void **state)
{
	const char *root = *state;
	mkdirs(root, "devices/system/cpu/cpu1");
	put(root, "devices/system/cpu/cpu1/online", "0\n");
	struct cpu_helper h;
	assert_int_equal(cpu_helper_start(&h, root), 0);

	int data = 7;
	struct cpu_job j = {
		.cpu = 1, .op = CPU_JOB_ONLINE, .probe = guest_host_has_cpu(1), .data = &data
	};
	cpu_helper_submit(&h, &j);
	struct cpu_job *done = wait_job(&h);
	assert_ptr_equal(done, &j);
	assert_ptr_equal(done->data, &data);
	assert_int_equal(j.err, 0);
	assert_true(j.online);
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu1/online", root);
	char *text = guest_read_file(path);
	assert_int_equal(text[0], '1');
	free(text);

	/* Already online: no write, nothing timed. */
	j = (struct cpu_job){ .cpu = 1, .op = CPU_JOB_ONLINE };
	cpu_helper_submit(&h, &j);
	wait_job(&h);
	assert_int_equal(j.err, 0);
	assert_int_equal(j.change_us, 0);

	j = (struct cpu_job){ .cpu = 1, .op = CPU_JOB_OFFLINE };
	cpu_helper_submit(&h, &j);
	wait_job(&h);
	assert_int_equal(j.err, 0);
	assert_false(j.online);

	j = (struct cpu_job){ .cpu = 9, .op = CPU_JOB_ONLINE };
	cpu_helper_submit(&h, &j);
	wait_job(&h);
	assert_int_equal(j.err, -ENOENT);
	assert_string_equal(j.step, "read");

	/* Jobs still queued at stop come back to their owner. */
	struct cpu_job a = { .cpu = 9, .op = CPU_JOB_OFFLINE }, b = a;
	cpu_helper_submit(&h, &a);
	cpu_helper_submit(&h, &b);
	struct cpu_job *left = cpu_helper_stop(&h);
	int n = 0;
	for (; left; left = left->next) {
		assert_true(left == &a || left == &b);
		n++;
	}
	assert_int_equal(n, 2);
}

static void test_artifact_store(void **state)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/a/b/artifacts", (const char *)*state);
	mode_t old = umask(077);
	struct artifact_store s;
	assert_int_equal(artifact_store_open(dir, &s), 0);
	assert_int_equal(artifact_count(&s), 0);

	const char data[] = "#!/bin/sh\necho hi\n";
	char digest[SHA256_HEX_SIZE];
	sha256_hex(data, strlen(data), digest);
	assert_false(artifact_has(&s, digest));
	assert_int_equal(artifact_put(&s, digest, data, strlen(data)), 0);
	umask(old);
	assert_true(artifact_has(&s, digest));
	assert_int_equal(artifact_count(&s), 1);
	char path[PATH_MAX + 80];
	assert_int_equal(artifact_path(&s, digest, path, sizeof(path)), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_size, strlen(data));

	assert_int_equal(artifact_put(&s, digest, "other", 5), -EBADMSG);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, strlen(data));
	assert_int_equal(artifact_count(&s), 1); /* no temporary file left */

	char upper[SHA256_HEX_SIZE];
	memcpy(upper, digest, sizeof(upper));
	upper[0] = 'A';
	const char *bad[] = { "", "../x", upper, "0123",
			      "g000000000000000000000000000000000000000000000000000000000000000" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_false(artifact_digest_is_valid(bad[i]));
		assert_int_equal(artifact_put(&s, bad[i], data, strlen(data)), -EINVAL);
		assert_false(artifact_has(&s, bad[i]));
	}
	/* The empty artifact is a valid (if useless) one. */
	char empty[SHA256_HEX_SIZE];
	sha256_hex(NULL, 0, empty);
	assert_int_equal(artifact_put(&s, empty, NULL, 0), 0);
	assert_int_equal(artifact_count(&s), 2);
	artifact_store_close(&s);
	artifact_store_close(&s);
}

static void test_channel_find_port(void **state)
{
	const char *root = *state;
	mkdirs(root, "class/virtio-ports/vport0p1");
	mkdirs(root, "class/virtio-ports/vport1p3");
	put(root, "class/virtio-ports/vport0p1/name", "org.qemu.guest_agent.0\n");
	put(root, "class/virtio-ports/vport1p3/name", "ditto.0\n");
	char path[64];
	assert_int_equal(channel_find_port(root, "ditto.0", path, sizeof(path)), 0);
	assert_string_equal(path, "/dev/vport1p3");
	assert_int_equal(channel_find_port(root, "ditto.1", path, sizeof(path)), -ENOENT);
	assert_int_equal(channel_find_port("/nonexistent", "ditto.0", path, sizeof(path)), -ENOENT);
}

static void test_channel_send_flush(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	struct channel c;
	channel_init(&c, sv[0], true, WIRE_MAX_BODY);
	/* More than the socket takes: the rest stays queued until flushed. */
	size_t n = 1 << 20;
	uint8_t *body = malloc(n);
	assert_non_null(body);
	memset(body, 'b', n);
	assert_int_equal(channel_send(&c, WIRE_REPLY, 9, "{}", 2, body, n, "tail", 4), 0);
	assert_true(channel_has_pending(&c));
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	struct wire_frame f;
	int r = 0;
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (r == 0 && guest_now_ms() < deadline) {
		uint8_t buf[65536];
		ssize_t k = read(sv[1], buf, sizeof(buf));
		assert_true(k > 0);
		assert_int_equal(wire_decoder_feed(&d, buf, (size_t)k), 0);
		assert_int_equal(channel_flush(&c), 0);
		r = wire_decoder_next(&d, &f);
	}
	assert_int_equal(r, 1);
	assert_false(channel_has_pending(&c));
	assert_int_equal(f.hdr.id, 9);
	assert_int_equal(f.hdr.body_len, n + 4);
	assert_memory_equal(f.body, body, n);
	assert_memory_equal(f.body + n, "tail", 4);
	assert_int_equal(channel_send(&c, WIRE_REPLY, 1, NULL, WIRE_MAX_META + 1, NULL, 0, NULL, 0),
			 -EMSGSIZE);
	free(body);
	wire_decoder_free(&d);
	channel_fini(&c);
	close(sv[1]);
}

/* Writes script to the shell's stdin and closes it. */
static void proc_feed(struct proc *pr, const char *script)
{
	assert_int_equal(write(pr->in_fd, script, strlen(script)), (ssize_t)strlen(script));
	close(pr->in_fd);
	pr->in_fd = -1;
}

/* Reaps the shell, checks it exited with 0, and returns what it printed. */
static void proc_output(struct proc *pr, char *out, size_t size)
{
	int status;
	assert_int_equal(waitpid(pr->pid, &status, 0), pr->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fcntl(pr->out_fd, F_SETFL, 0);
	ssize_t k = read(pr->out_fd, out, size - 1);
	assert_true(k > 0);
	out[k] = '\0';
	close(pr->out_fd);
	close(pr->err_fd);
}

static void test_proc_spawn(void **state)
{
	char *envp[] = { "PATH=/usr/bin:/bin", "DITTO_X=42", NULL };
	struct proc_spawn_opts o = { .path = "/bin/sh", .cpu = -1, .envp = envp };
	struct proc pr;
	const char *step = NULL;
	assert_int_equal(proc_spawn(&o, &pr, &step), 0);
	proc_feed(&pr, "read a b c d pgrp rest < /proc/$$/stat\n"
		       "echo \"$DITTO_X $pgrp $$\"\n");
	assert_true(guest_pid_gone(pr.pid, GUEST_DEADLINE_MS));
	int cpu = -1;
	uint64_t cpu_us = 0;
	/* A zombie's stat is still readable. */
	assert_int_equal(proc_stat(pr.pid, &cpu, &cpu_us), 0);
	assert_true(cpu >= 0);
	char out[256];
	proc_output(&pr, out, sizeof(out));
	/* Its environment is exactly envp, and it leads its own group. */
	char want[64];
	snprintf(want, sizeof(want), "42 %d %d\n", (int)pr.pid, (int)pr.pid);
	assert_string_equal(out, want);

	o.path = "/nonexistent/program";
	assert_int_equal(proc_spawn(&o, &pr, &step), -ENOENT);
	assert_string_equal(step, "execve");
	o.path = "/bin/sh";
	o.cpu = CPU_SETSIZE - 1;
	assert_int_equal(proc_spawn(&o, &pr, &step), -EINVAL);
	assert_string_equal(step, "sched_setaffinity");
	assert_int_equal(proc_stat(getpid(), &cpu, &cpu_us), 0);
	assert_int_equal(proc_stat(0x7ffffff0, &cpu, &cpu_us), -ENOENT);
}

/* The address-space limit binds the child's new image and never its parent,
 * with which a vfork child shares memory until the exec. */
static void test_proc_spawn_memory_limit(void **state)
{
	struct rlimit before, after;
	assert_int_equal(getrlimit(RLIMIT_AS, &before), 0);
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	struct proc_spawn_opts o = {
		.path = "/bin/sh", .cpu = -1, .envp = envp, .as_limit = 48ull << 20
	};
	struct proc pr;
	const char *step = NULL;
	assert_int_equal(proc_spawn(&o, &pr, &step), 0);
	proc_feed(&pr, "ulimit -v\n");
	char out[64];
	proc_output(&pr, out, sizeof(out));
	assert_string_equal(out, "49152\n");
	assert_int_equal(getrlimit(RLIMIT_AS, &after), 0);
	assert_true(after.rlim_cur == before.rlim_cur && after.rlim_max == before.rlim_max);
}

struct two_watches {
	struct loop *l;
	struct watch a, b;
	int a_calls, b_calls;
};

static void on_a(struct watch *w, uint32_t events)
{
	struct two_watches *t = container_of(w, struct two_watches, a);
	t->a_calls++;
	loop_del(t->l, &t->a);
	loop_del(t->l, &t->b);
}

static void on_b(struct watch *w, uint32_t events)
{
	struct two_watches *t = container_of(w, struct two_watches, b);
	t->b_calls++;
	loop_del(t->l, &t->a);
	loop_del(t->l, &t->b);
}

static void test_loop_del_drops_pending(void **state)
{
	struct loop l;
	assert_int_equal(loop_init(&l), 0);
	struct two_watches t = { .l = &l };
	int e1 = eventfd(1, EFD_CLOEXEC), e2 = eventfd(1, EFD_CLOEXEC);
	assert_int_equal(loop_add(&l, &t.a, e1, EPOLLIN, on_a), 0);
	assert_int_equal(loop_add(&l, &t.b, e2, EPOLLIN, on_b), 0);
	/* Both are ready in the same batch; whichever runs first removes the
	 * other, whose pending event must then be dropped. */
	assert_int_equal(loop_run_once(&l, GUEST_DEADLINE_MS), 0);
	assert_int_equal(t.a_calls + t.b_calls, 1);
	assert_int_equal(t.a.fd, -1);
	assert_int_equal(t.b.fd, -1);
	assert_int_equal(loop_run_once(&l, 0), 0);
	assert_int_equal(t.a_calls + t.b_calls, 1);
	close(e1);
	close(e2);
	loop_fini(&l);
}

/* Each test gets a fixture of its own. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_cpu_list_parse),
					    cmocka_unit_test(test_cpu_uevent_parse),
					    FIXTURE_TEST(test_cpu_sysfs),
					    cmocka_unit_test(test_cpu_probe),
					    FIXTURE_TEST(test_cpu_helper_thread),
					    FIXTURE_TEST(test_artifact_store),
					    FIXTURE_TEST(test_channel_find_port),
					    cmocka_unit_test(test_channel_send_flush),
					    cmocka_unit_test(test_proc_spawn),
					    cmocka_unit_test(test_proc_spawn_memory_limit),
					    cmocka_unit_test(test_loop_del_drops_pending) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
