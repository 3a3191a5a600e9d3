#include "vm_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define SETPRIV "/usr/bin/setpriv"

static void on_proc_closed(uv_handle_t *h)
{
	free(h);
}

/* QEMU must not outlive the agent: an agent that crashes would leave VMs
 * holding cores nobody manages. setpriv (util-linux, always on Debian) sets
 * the parent-death signal and execs QEMU in place. Returns a malloc'd vector
 * (free it, not its strings), or NULL when out of memory. */
static char **launch_argv(char **argv)
{
	size_t n = 0;
	while (argv[n])
		n++;
	char **v = malloc((n + 4) * sizeof(*v));
	if (!v)
		return NULL;
	size_t k = 0;
	if (access(SETPRIV, X_OK) == 0) {
		v[k++] = SETPRIV;
		v[k++] = "--pdeathsig";
		v[k++] = "KILL";
	}
	for (size_t i = 0; i <= n; i++)
		v[k++] = argv[i];
	return v;
}

int vm_proc_spawn(uv_loop_t *loop, char **argv, const char *log_path, uv_exit_cb exit_cb,
		  void *data, uv_process_t **ret)
{
	char **run = launch_argv(argv);
	uv_process_t *proc = calloc(1, sizeof(*proc));
	if (!run || !proc) {
		free(run);
		free(proc);
		return -ENOMEM;
	}
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = logfd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = logfd },
		{ .flags = logfd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = logfd },
	};
	uv_process_options_t opts = {
		.file = run[0],
		.args = run,
		.exit_cb = exit_cb,
		.stdio = stdio,
		.stdio_count = 3,
	};
	proc->data = data;
	int r = uv_spawn(loop, proc, &opts);
	/* libuv requires closing a handle even when spawning failed. */
	if (r < 0)
		uv_close((uv_handle_t *)proc, on_proc_closed);
	if (logfd >= 0)
		close(logfd);
	free(run);
	if (r == 0)
		*ret = proc;
	return r;
}
