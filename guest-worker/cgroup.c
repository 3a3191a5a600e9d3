#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

struct cgroup_stale {
	char name[48];
	struct cgroup_stale *next;
};

/* Writes text to the file name under the folder dirfd. */
static int write_at(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text);
	int r = write(fd, text, n) == (ssize_t)n ? 0 : -errno;
	close(fd);
	return r;
}

/* Whether the controllers file of the folder dirfd lists "memory". */
static bool has_memory_controller(int dirfd)
{
	int fd = openat(dirfd, "cgroup.controllers", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	char text[512];
	ssize_t n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	for (char *save, *w = strtok_r(text, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
		if (strcmp(w, "memory") == 0)
			return true;
	return false;
}

int cgroups_init(struct cgroups *cs, const char *root)
{
	*cs = (struct cgroups){ .root_fd = -1 };
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct statfs sfs;
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
		close(fd);
		return 0;
	}
	/* A hierarchy this process may not make cgroups in, nor move
	 * processes into, is there but unusable. */
	if (faccessat(fd, ".", W_OK, AT_EACCESS) < 0 ||
	    faccessat(fd, "cgroup.procs", W_OK, AT_EACCESS) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	/* Children get memory.max only when their parent hands the
	 * controller down; without it they still group and kill. */
	if (has_memory_controller(fd)) {
		int r = write_at(fd, "cgroup.subtree_control", "+memory");
		if (r < 0) {
			close(fd);
			return r;
		}
		cs->memory = true;
	}
	cs->root_fd = fd;
	return 0;
}

bool cgroups_enabled(const struct cgroups *cs)
{
	return cs->root_fd >= 0;
}

bool cgroups_have_memory(const struct cgroups *cs)
{
	return cs->root_fd >= 0 && cs->memory;
}

/* Sets memory.max to memory_mib MiB and takes away swap. */
static int set_memory_max(int fd, uint32_t memory_mib)
{
	char max[32];
	snprintf(max, sizeof(max), "%llu", (unsigned long long)memory_mib << 20);
	int r = write_at(fd, "memory.max", max);
	if (r < 0)
		return r;
	/* Without swap accounting the file is absent: no swap to limit. */
	r = write_at(fd, "memory.swap.max", "0");
	return r == -ENOENT ? 0 : r;
}

int cgroup_create(struct cgroups *cs, uint32_t memory_mib, struct cgroup *ret)
{
	if (cs->root_fd < 0 || (memory_mib && !cs->memory))
		return -EOPNOTSUPP;
	struct cgroup cg = { .fd = -1 };
	/* The calling thread's id: each thread's runner numbers its own. */
	snprintf(cg.name, sizeof(cg.name), "ditto-%d-%llu", (int)gettid(),
		 (unsigned long long)++cs->seq);
	if (mkdirat(cs->root_fd, cg.name, 0755) < 0)
		return -errno;
	cg.fd = openat(cs->root_fd, cg.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = cg.fd < 0 ? -errno : 0;
	if (r == 0 && memory_mib)
		r = set_memory_max(cg.fd, memory_mib);
	if (r < 0) {
		cgroup_remove(cs, &cg);
		return r;
	}
	*ret = cg;
	return 0;
}

bool cgroup_is_set(const struct cgroup *cg)
{
	return cg->name[0] && cg->fd >= 0;
}

int cgroup_join(const struct cgroup *cg)
{
	int fd = openat(cg->fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = write(fd, "0", 1) == 1 ? 0 : -errno;
	close(fd);
	return r;
}

int cgroup_kill(const struct cgroup *cg)
{
	if (!cgroup_is_set(cg))
		return -EBADF;
	return write_at(cg->fd, "cgroup.kill", "1");
}

void cgroup_remove(struct cgroups *cs, struct cgroup *cg)
{
	if (!cg->name[0])
		return;
	if (cg->fd >= 0)
		close(cg->fd);
	cg->fd = -1;
	int r = unlinkat(cs->root_fd, cg->name, AT_REMOVEDIR) == 0 ? 0 : errno;
	if (r != EBUSY) {
		cg->name[0] = '\0';
		return;
	}
	struct cgroup_stale *s = malloc(sizeof(*s));
	if (s) {
		memcpy(s->name, cg->name, sizeof(s->name));
		s->next = cs->stale;
		cs->stale = s;
	}
	/* Else left behind: once its processes are gone it holds no memory. */
	cg->name[0] = '\0';
}

void cgroups_sweep(struct cgroups *cs)
{
	for (struct cgroup_stale **p = &cs->stale; *p;) {
		struct cgroup_stale *s = *p;
		if (unlinkat(cs->root_fd, s->name, AT_REMOVEDIR) < 0 && errno == EBUSY) {
			p = &s->next;
			continue;
		}
		*p = s->next;
		free(s);
	}
}

void cgroups_fini(struct cgroups *cs)
{
	cgroups_sweep(cs);
	while (cs->stale) {
		struct cgroup_stale *s = cs->stale;
		cs->stale = s->next;
		free(s);
	}
	if (cs->root_fd >= 0)
		close(cs->root_fd);
	cs->root_fd = -1;
}
