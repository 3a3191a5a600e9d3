/* Function processes in cgroups of their own (cgroup v2): a timeout, a
 * retired long-lived process, a CPU's eviction and the daemon's shutdown
 * kill everything a function started, also descendants that called setsid
 * and so left its process group; each cgroup is removed once empty. The
 * daemon runs on a private sub-tree of a writable cgroup v2 hierarchy of
 * this machine; where there is none each test is skipped (the end-to-end
 * suite checks the same in a VM). */
#include <dirent.h>
#include <mntent.h>
#include <poll.h>
#include <sys/wait.h>

#include "cgroup.h"
#include "support/guest_harness.h"

/* Starts a detached sleeper in a session of its own (out of the function's
 * process group). */
#define SETSID_SLEEPER "setsid sh -c 'sleep 60' </dev/null >/dev/null 2>&1 &\n"
/* Long enough for a loaded machine to start the sleeper and print its pid
 * before the kill. */
#define TIMEOUT "\"timeout_ms\":2000"

struct fixture {
	char root[PATH_MAX]; /* the private sub-tree; empty: none here */
	struct peer peer;
	bool started;
};

/* Makes a private cgroup under the first writable cgroup v2 mount that
 * offers cgroup.kill in its children; leaves root empty when none does. */
static void private_root(char *root, size_t size)
{
	root[0] = '\0';
	FILE *f = setmntent("/proc/self/mounts", "r");
	if (!f)
		return;
	for (struct mntent *m; (m = getmntent(f));) {
		if (strcmp(m->mnt_type, "cgroup2") != 0)
			continue;
		snprintf(root, size, "%s/ditto-test-%d", m->mnt_dir, (int)getpid());
		if (mkdir(root, 0755) < 0) {
			root[0] = '\0';
			continue;
		}
		char kill_file[PATH_MAX + 16];
		snprintf(kill_file, sizeof(kill_file), "%s/cgroup.kill", root);
		if (access(kill_file, W_OK) == 0)
			break;
		rmdir(root);
		root[0] = '\0';
	}
	endmntent(f);
}

/* Waits until the cgroup at path has no process left (cgroup.events says
 * "populated 0"; the kernel wakes pollers on each change). */
static void wait_unpopulated(const char *path)
{
	char events[PATH_MAX + 16];
	snprintf(events, sizeof(events), "%s/cgroup.events", path);
	int fd = open(events, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* already removed */
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	for (;;) {
		char text[256];
		ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
		assert_true(n > 0);
		text[n] = '\0';
		if (strstr(text, "populated 0"))
			break;
		assert_true(guest_now_ms() < deadline);
		struct pollfd pfd = { .fd = fd, .events = POLLPRI };
		poll(&pfd, 1, 1000);
	}
	close(fd);
}

/* The number of cgroups under root, each waited for to empty first when
 * drain is set and then removed. */
static int leaves(const char *root, bool drain)
{
	DIR *d = opendir(root);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		n++;
		char path[PATH_MAX + 300];
		snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
		if (drain) {
			wait_unpopulated(path);
			rmdir(path);
		}
	}
	closedir(d);
	return n;
}

/* Waits until the daemon has removed every cgroup it made. */
static void expect_no_leaves(struct peer *p, const char *root)
{
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (leaves(root, false) > 0 && guest_now_ms() < deadline)
		peer_ping(p); /* each round trip gives the daemon's loop a turn */
	assert_int_equal(leaves(root, false), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	*state = fx;
	private_root(fx->root, sizeof(fx->root));
	if (!fx->root[0] || !guest_host_has_cpu(1))
		return 0;
	struct peer_opts o = { .cgroup_root = fx->root };
	peer_start_opts(&fx->peer, &o);
	peer_activate(&fx->peer, 1);
	fx->started = true;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	if (fx->started)
		peer_stop(&fx->peer);
	if (fx->root[0]) {
		leaves(fx->root, true);
		assert_int_equal(rmdir(fx->root), 0);
	}
	free(fx);
	return 0;
}

/* The fixture's peer; skips the test where this machine has no writable
 * cgroup v2 hierarchy (or no CPU 1). */
static struct peer *peer_of(void **state)
{
	struct fixture *fx = *state;
	if (!fx->started) {
		print_message("no writable cgroup v2 hierarchy with cgroup.kill here: skipping\n");
		skip();
	}
	return &fx->peer;
}

/* The module alone: a leaf's kill reaches a descendant in a session of its
 * own, and the leaf goes once empty. */
static void test_cgroup_kill(void **state)
{
	struct fixture *fx = *state;
	if (!fx->root[0])
		skip();
	struct cgroups cs;
	assert_int_equal(cgroups_init(&cs, fx->root), 0);
	assert_true(cgroups_enabled(&cs));
	struct cgroup cg = { .fd = -1 };
	if (!cgroups_have_memory(&cs))
		assert_int_equal(cgroup_create(&cs, 64, &cg), -EOPNOTSUPP);
	assert_int_equal(cgroup_create(&cs, 0, &cg), 0);
	assert_true(cgroup_is_set(&cg));
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		if (cgroup_join(&cg) < 0)
			_exit(1);
		pid_t grandchild = fork();
		if (grandchild == 0) {
			setsid();
			pause();
			_exit(0);
		}
		(void)!write(fds[1], &grandchild, sizeof(grandchild));
		pause();
		_exit(0);
	}
	pid_t grandchild = 0;
	assert_int_equal(read(fds[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(leaves(fx->root, false), 1);
	assert_int_equal(cgroup_kill(&cg), 0);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(guest_pid_gone(grandchild, GUEST_DEADLINE_MS));
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", fx->root, cg.name);
	wait_unpopulated(path);
	cgroup_remove(&cs, &cg);
	assert_false(cgroup_is_set(&cg));
	assert_int_equal(cgroup_kill(&cg), -EBADF);
	cgroups_fini(&cs);
	assert_int_equal(leaves(fx->root, false), 0);
}

/* Each process runs in a leaf of its own under the daemon's root. */
static void test_process_in_own_cgroup(void **state)
{
	struct peer *p = peer_of(state);
	const char *root = ((struct fixture *)*state)->root;
	struct guest_msg m;
	peer_run(p, "#!/bin/sh\ncat /proc/self/cgroup\n", "", "ok", &m);
	char *result = guest_msg_result(&m);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/ditto-", strrchr(root, '/'));
	if (!strstr(result, want))
		fail_msg("not in a cgroup of its own under %s: %s", root, result);
	free(result);
	guest_msg_free(&m);
	expect_no_leaves(p, root);
}

/* A timeout kills the sleeper that left the process group. */
static void test_process_timeout_kills_session(void **state)
{
	struct peer *p = peer_of(state);
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\n" SETSID_SLEEPER "echo $! $$\nwait\n", digest);
	struct guest_msg m;
	peer_invoke(p, digest, TIMEOUT, "", "timeout", &m);
	char *result = guest_msg_result(&m);
	guest_assert_pids_gone(result);
	free(result);
	guest_msg_free(&m);
	expect_no_leaves(p, ((struct fixture *)*state)->root);
}

/* Nothing a function started outlives it, even when it ends well. */
static void test_process_exit_kills_session(void **state)
{
	struct peer *p = peer_of(state);
	struct guest_msg m;
	peer_run(p, "#!/bin/sh\n" SETSID_SLEEPER "echo $! $$\n", "", "ok", &m);
	char *result = guest_msg_result(&m);
	guest_assert_pids_gone(result);
	free(result);
	guest_msg_free(&m);
	expect_no_leaves(p, ((struct fixture *)*state)->root);
}

/* A long-lived process's timeout, and taking its CPU offline while it idles,
 * kill what they started in sessions of their own. */
static void test_persistent_kills_session(void **state)
{
	struct peer *p = peer_of(state);
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p,
			"#!/bin/sh\n"
			"while IFS= read -r line; do\n"
			"  " SETSID_SLEEPER
			"  if [ \"$line\" = hang ]; then echo $! $$ >&2; sleep 1000; fi\n"
			"  echo $! $$\n"
			"done\n",
			digest);
	struct guest_msg m;
	peer_invoke(p, digest, "\"mode\":\"persistent\"," TIMEOUT, "hang", "timeout", &m);
	guest_assert_pids_gone(guest_msg_log(&m));
	guest_msg_free(&m);

	peer_invoke(p, digest, "\"mode\":\"persistent\"", "idle", "ok", &m);
	char *result = guest_msg_result(&m);
	guest_msg_free(&m);
	assert_int_equal(kill((pid_t)strtol(result, NULL, 10), 0), 0);
	peer_call(p, WIRE_CPU_OFFLINE, "{\"cpu\":1}", NULL, 0, WIRE_REPLY, &m);
	guest_msg_free(&m);
	guest_assert_pids_gone(result);
	free(result);
	expect_no_leaves(p, ((struct fixture *)*state)->root);
}

/* The daemon's shutdown kills a running function's session too. */
static void test_shutdown_kills_session(void **state)
{
	struct fixture *fx = *state;
	struct peer *p = peer_of(state);
	char file[256], script[1024];
	snprintf(file, sizeof(file), "%s/pids", p->fs.dir);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n" SETSID_SLEEPER "echo $! $$ >%s.new\nmv %s.new %s\nsleep 1000\n",
		 file, file, file);
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, script, digest);
	peer_invoke_send(p, digest, "", "");
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (access(file, F_OK) != 0 && guest_now_ms() < deadline)
		peer_ping(p);
	char *pids = guest_read_file(file);
	assert_non_null(pids);
	peer_detach(p);
	close(p->uevent_fd);
	guest_child_exits_cleanly(p->pid);
	fx->started = false;
	guest_assert_pids_gone(pids);
	free(pids);
	fake_sysfs_remove(&p->fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cgroup_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_in_own_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_process_timeout_kills_session, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_process_exit_kills_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistent_kills_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_kills_session, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
