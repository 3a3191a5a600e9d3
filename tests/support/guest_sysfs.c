#include "support/guest_sysfs.h"

#include <sys/syscall.h>
#include <time.h>

#include "support/files.h"
#include "util.h"

/* ---- files and processes ------------------------------------------------ */

uint64_t guest_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void guest_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

char *guest_read_file(const char *path)
{
	void *s;
	size_t n;
	return file_read_all(path, &s, &n) < 0 ? NULL : s;
}

bool guest_host_has_cpu(int cpu)
{
	cpu_set_t set;
	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_ISSET(cpu, &set);
}

bool guest_pid_gone(pid_t pid, int timeout_ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return errno == ESRCH;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n = poll(&pfd, 1, timeout_ms);
	close(fd);
	return n == 1;
}

void guest_child_exits_cleanly(pid_t pid)
{
	assert_true(guest_pid_gone(pid, GUEST_DEADLINE_MS));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

void guest_assert_pids_gone(const char *text)
{
	char *end;
	long child = strtol(text, &end, 10);
	long parent = strtol(end, NULL, 10);
	assert_true(child > 0);
	assert_true(parent > 0);
	assert_true(guest_pid_gone((pid_t)child, GUEST_DEADLINE_MS));
	assert_true(guest_pid_gone((pid_t)parent, GUEST_DEADLINE_MS));
}

/* ---- the fake sysfs tree and uevents ------------------------------------- */

static void cpu_file(const struct fake_sysfs *fs, int cpu, const char *file, char *out, size_t size)
{
	snprintf(out, size, "%s/cpu%d%s%s", fs->cpudir, cpu, file ? "/" : "", file ? file : "");
}

void fake_cpu_online(const struct fake_sysfs *fs, int cpu, bool online)
{
	char path[PATH_MAX];
	cpu_file(fs, cpu, "online", path, sizeof(path));
	guest_write_file(path, online ? "1\n" : "0\n");
}

bool fake_cpu_is_online(const struct fake_sysfs *fs, int cpu)
{
	char path[PATH_MAX];
	cpu_file(fs, cpu, "online", path, sizeof(path));
	char *s = guest_read_file(path);
	assert_non_null(s);
	bool on = s[0] == '1';
	free(s);
	return on;
}

void fake_cpu_create(const struct fake_sysfs *fs, int cpu, bool online)
{
	char path[PATH_MAX];
	cpu_file(fs, cpu, NULL, path, sizeof(path));
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	if (cpu != 0)
		fake_cpu_online(fs, cpu, online);
}

void fake_cpu_list(const struct fake_sysfs *fs, const char *name, const char *list)
{
	char path[PATH_MAX], text[256];
	snprintf(path, sizeof(path), "%s/%s", fs->cpudir, name);
	snprintf(text, sizeof(text), "%s\n", list);
	guest_write_file(path, text);
}

/* Small lists only: "a-b" or "a". */
static void small_list_parse(const char *list, cpu_set_t *ret)
{
	CPU_ZERO(ret);
	int a, b;
	if (sscanf(list, "%d-%d", &a, &b) == 2)
		for (int i = a; i <= b; i++)
			CPU_SET(i, ret);
	else if (sscanf(list, "%d", &a) == 1)
		CPU_SET(a, ret);
}

void fake_sysfs_create(struct fake_sysfs *fs, const char *possible, const char *present,
		       const char *online)
{
	assert_int_equal(scratch_dir(fs->dir, sizeof(fs->dir), "guest-test"), 0);
	snprintf(fs->sys, sizeof(fs->sys), "%s/sys", fs->dir);
	snprintf(fs->cpudir, sizeof(fs->cpudir), "%s/devices/system/cpu", fs->sys);
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", fs->cpudir);
	assert_int_equal(system(cmd), 0);

	possible = possible ? possible : "0-3";
	present = present ? present : "0-3";
	online = online ? online : "0";
	fake_cpu_list(fs, "possible", possible);
	fake_cpu_list(fs, "present", present);
	fake_cpu_list(fs, "online", online);
	cpu_set_t pres, onl;
	small_list_parse(present, &pres);
	small_list_parse(online, &onl);
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &pres))
			fake_cpu_create(fs, i, CPU_ISSET(i, &onl));
}

void fake_sysfs_remove(struct fake_sysfs *fs)
{
	remove_tree(fs->dir);
}

void fake_uevent_send(int fd, const char *action, int cpu)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s@/devices/system/cpu/cpu%d", action, cpu);
	n += 1 + snprintf(msg + n + 1, sizeof(msg) - (size_t)n - 1, "ACTION=%s", action);
	n += 1 + snprintf(msg + n + 1, sizeof(msg) - (size_t)n - 1,
			  "DEVPATH=/devices/system/cpu/cpu%d", cpu);
	n += 1 + snprintf(msg + n + 1, sizeof(msg) - (size_t)n - 1, "SUBSYSTEM=cpu");
	n += 1;
	assert_int_equal(send(fd, msg, (size_t)n, 0), n);
}
