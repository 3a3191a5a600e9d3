#include "support/procs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* How long a daemon may take to stop cleanly. */
#define STOP_MS 60000L

const char *test_build_dir(void)
{
	const char *b = getenv("DITTO_BUILD");
	return b && *b ? b : "build";
}

int proc_start_agent(struct daemon_proc *p, const char *data_dir, const char *const *extra)
{
	struct daemon_args a = { .build_dir = test_build_dir(),
				 .data_dir = data_dir,
				 .extra = extra,
				 .timeout_ms = PROC_START_MS };
	return daemon_proc_start_agent(p, &a);
}

int proc_start_controller(struct daemon_proc *p, const char *data_dir, int port,
			  const char *const *extra, char admin[128])
{
	struct daemon_args a = { .build_dir = test_build_dir(),
				 .data_dir = data_dir,
				 .port = port,
				 .extra = extra,
				 .timeout_ms = PROC_START_MS };
	int r = daemon_proc_start_controller(p, &a);
	if (r < 0)
		return r;
	char key[512];
	snprintf(key, sizeof(key), "%s/admin.key", data_dir);
	return file_read_text(key, admin, 128) > 0 ? 0 : -EIO;
}

int platform_controller_start(struct platform *p)
{
	static const char *const extra[] = { "--host-timeout-ms", "2000", "--log-level", "debug",
					     NULL };
	int port = p->controller.url[0] ? daemon_proc_port(&p->controller) : 0;
	if (port < 0)
		return port;
	char data[128];
	snprintf(data, sizeof(data), "%s/controller", p->dir);
	return proc_start_controller(&p->controller, data, port, extra, p->admin);
}

int platform_agent_start(struct platform *p, struct daemon_proc *a, const char *host_id,
			 const char *const *extra)
{
	char data[128], key[160];
	snprintf(data, sizeof(data), "%s/%s", p->dir, host_id);
	snprintf(key, sizeof(key), "%s/controller/admin.key", p->dir);
	const char *args[32] = {
		"--controller", p->controller.url, "--controller-key-file", key,
		"--host-id",    host_id,           "--heartbeat-ms",        "200"
	};
	int n = 8;
	for (int i = 0; extra && extra[i]; i++) {
		if (n == 31)
			return -E2BIG;
		args[n++] = extra[i];
	}
	args[n] = NULL;
	return proc_start_agent(a, data, args);
}

int platform_start(struct platform *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/ditto-e2e-XXXXXX");
	if (!mkdtemp(p->dir)) {
		fprintf(stderr, "cannot make a folder for the platform: %s\n", strerror(errno));
		return -errno;
	}
	int r = platform_controller_start(p);
	if (r < 0) {
		fprintf(stderr, "cannot start the controller (%s); see %s/controller\n",
			strerror(-r), p->dir);
		return r;
	}
	r = platform_agent_start(p, &p->agent, "h1", NULL);
	if (r < 0)
		fprintf(stderr, "cannot start agent h1 (%s); see %s/h1\n", strerror(-r), p->dir);
	return r;
}

void platform_stop(struct platform *p)
{
	daemon_proc_stop(&p->agent, SIGTERM, STOP_MS);
	daemon_proc_stop(&p->controller, SIGTERM, STOP_MS);
	if (p->dir[0] && !getenv("DITTO_KEEP")) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", p->dir);
	}
}
