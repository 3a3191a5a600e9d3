#include "cpu_sysfs.h"

#include <errno.h>
#include <limits.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "wire.h"

#define CPU_DIR "/devices/system/cpu"

/* Reads the CPU number (decimal digits, below CPU_SETSIZE) at *s and moves
 * *s past it. */
static int parse_cpu_num(const char **s, int *ret)
{
	char digits[24];
	size_t n = strspn(*s, "0123456789");
	if (n == 0 || n >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, *s, n);
	digits[n] = '\0';
	uint64_t v;
	if (parse_u64(digits, 0, CPU_SETSIZE - 1, &v) < 0)
		return -EINVAL;
	*s += n;
	*ret = (int)v;
	return 0;
}

int cpu_list_parse(const char *s, cpu_set_t *ret)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	while (*s && *s != '\n') {
		int a, b;
		if (parse_cpu_num(&s, &a) < 0)
			return -EINVAL;
		b = a;
		if (*s == '-') {
			s++;
			if (parse_cpu_num(&s, &b) < 0 || b < a)
				return -EINVAL;
		}
		for (int i = a; i <= b; i++)
			CPU_SET(i, &set);
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	*ret = set;
	return 0;
}

int cpu_list_read(const char *root, const char *name, cpu_set_t *ret)
{
	char path[PATH_MAX], text[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s" CPU_DIR "/%s", root, name) >= sizeof(path))
		return -ENAMETOOLONG;
	int r = file_read_text(path, text, sizeof(text));
	if (r < 0)
		return r;
	return cpu_list_parse(text, ret);
}

static int cpu_path(const char *root, int cpu, const char *file, char *out, size_t size)
{
	int n = snprintf(out, size, "%s" CPU_DIR "/cpu%d%s%s", root, cpu, file ? "/" : "",
			 file ? file : "");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int cpu_online_read(const char *root, int cpu, bool *ret_online)
{
	char path[PATH_MAX], text[16];
	int r = cpu_path(root, cpu, "online", path, sizeof(path));
	if (r < 0)
		return r;
	r = file_read_text(path, text, sizeof(text));
	if (r == -ENOENT) {
		struct stat st;
		cpu_path(root, cpu, NULL, path, sizeof(path));
		if (stat(path, &st) < 0)
			return -errno;
		*ret_online = true;
		return 0;
	}
	if (r < 0)
		return r;
	if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
		return -EINVAL;
	*ret_online = text[0] == '1';
	return 0;
}

int cpu_online_write(const char *root, int cpu, bool online)
{
	char path[PATH_MAX];
	int r = cpu_path(root, cpu, "online", path, sizeof(path));
	if (r < 0)
		return r;
	return file_write_text(path, online ? "1" : "0");
}

int cpu_probe(int cpu, uint64_t *ret_us)
{
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	cpu_set_t old, one;
	if (sched_getaffinity(0, sizeof(old), &old) < 0)
		return -errno;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	uint64_t t0 = time_now_us();
	/* The kernel migrates the calling thread before the call returns, so
	 * sched_getcpu() right after tells whether the CPU really runs it. */
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return -errno;
	int on = sched_getcpu();
	uint64_t t1 = time_now_us();
	sched_setaffinity(0, sizeof(old), &old);
	if (on != cpu)
		return -EAGAIN;
	*ret_us = t1 - t0;
	return 0;
}

int cpu_uevent_open(int *ret_fd)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			NETLINK_KOBJECT_UEVENT);
	if (fd < 0)
		return -errno;
	/* Group 1 carries the kernel's own events (udev re-broadcasts on 2). */
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	/* Hotplug storms (many CPUs at once) come in bursts; a larger buffer
	 * makes ENOBUFS rarer. Failing to grow it is harmless. */
	int sz = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	*ret_fd = fd;
	return 0;
}

ssize_t cpu_uevent_recv(int fd, bool kernel_only, char *buf, size_t size)
{
	struct sockaddr_nl sa = { 0 };
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr msg = {
		.msg_name = &sa,
		.msg_namelen = sizeof(sa),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;
	do
		n = recvmsg(fd, &msg, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (kernel_only && (msg.msg_namelen != sizeof(sa) || sa.nl_pid != 0))
		return -EPERM;
	buf[n] = '\0';
	return n;
}

int cpu_uevent_parse(const char *msg, size_t len, enum cpu_uevent_action *ret_action, int *ret_cpu)
{
	static const struct {
		const char *name;
		enum cpu_uevent_action action;
	} actions[] = {
		{ "add@", CPU_UEVENT_ADD },
		{ "remove@", CPU_UEVENT_REMOVE },
		{ "online@", CPU_UEVENT_ONLINE },
		{ "offline@", CPU_UEVENT_OFFLINE },
	};
	/* The header is the first NUL-terminated string; the KEY=VALUE pairs
	 * after it repeat what it says, so it is all that is needed. */
	size_t hlen = strnlen(msg, len);
	if (hlen == len)
		return -ENOENT;
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
		size_t alen = strlen(actions[i].name);
		if (strncmp(msg, actions[i].name, alen) != 0)
			continue;
		const char *p = msg + alen;
		static const char prefix[] = CPU_DIR "/cpu";
		if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
			return -ENOENT;
		p += sizeof(prefix) - 1;
		int cpu;
		if (parse_cpu_num(&p, &cpu) < 0 || *p != '\0')
			return -ENOENT;
		*ret_action = actions[i].action;
		*ret_cpu = cpu;
		return 0;
	}
	return -ENOENT;
}

static json_t *cpu_set_to_json(const cpu_set_t *set)
{
	json_t *a = json_array();
	for (int i = 0; a && i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, set))
			json_array_append_new(a, json_integer(i));
	return a;
}

json_t *cpu_sysfs_hello(const char *root, int ret_counts[3], double *ret_uptime_ms)
{
	cpu_set_t online, present, possible;
	CPU_ZERO(&online);
	CPU_ZERO(&present);
	CPU_ZERO(&possible);
	cpu_list_read(root, "online", &online);
	cpu_list_read(root, "present", &present);
	cpu_list_read(root, "possible", &possible);
	char up[128];
	double uptime = 0;
	if (file_read_text("/proc/uptime", up, sizeof(up)) > 0)
		uptime = strtod(up, NULL);
	ret_counts[0] = CPU_COUNT(&online);
	ret_counts[1] = CPU_COUNT(&present);
	ret_counts[2] = CPU_COUNT(&possible);
	*ret_uptime_ms = uptime * 1000.0;
	return json_pack("{s:i, s:o, s:o, s:i, s:I}", "version", WIRE_VERSION, "cpus_online",
			 cpu_set_to_json(&online), "cpus_present", cpu_set_to_json(&present),
			 "cpus_possible", ret_counts[2], "uptime_ms", (json_int_t)*ret_uptime_ms);
}
