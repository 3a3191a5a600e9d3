#include "daemon_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MAX_ARGS 48

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Whether the ready file holds a whole line (the daemons write the URL and
 * a newline); copies it without the newline into url. */
static bool read_ready(const char *path, char *url, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[sizeof(((struct daemon_proc *)0)->url)];
	char *got = fgets(line, sizeof(line), f);
	fclose(f);
	char *nl = got ? strchr(line, '\n') : NULL;
	if (!nl)
		return false;
	*nl = '\0';
	snprintf(url, size, "%s", line);
	return true;
}

/* The child's side of the fork: output to the log, then exec. */
static void exec_child(const char *log, const char *const *argv)
{
	/* A driver that dies early takes its daemons with it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Forks argv, then polls the ready file until the daemon listens. */
static int spawn_and_wait(struct daemon_proc *p, const char *ready, const char *const *argv,
			  long timeout_ms)
{
	unlink(ready);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		exec_child(p->log, argv);
	p->pid = pid;
	uint64_t deadline = time_now_us() + (uint64_t)timeout_ms * 1000u;
	for (;;) {
		if (read_ready(ready, p->url, sizeof(p->url)))
			return 0;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			p->pid = 0;
			return -ECHILD;
		}
		if (time_now_us() > deadline) {
			daemon_proc_stop(p, SIGKILL, 1000);
			return -ETIMEDOUT;
		}
		/* The daemon writes the file once, soon after it listens: a
		 * short step ends the wait within a few ms of that. */
		sleep_ms(5);
	}
}

/* Starts BUILD/NAME --port P --data D --ready-file D/SHORT.url FIRST... EXTRA... */
static int start(struct daemon_proc *p, const struct daemon_args *a, const char *name,
		 const char *short_name, const char *const *first)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->data_dir, sizeof(p->data_dir), "%s", a->data_dir);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", a->data_dir, short_name);
	int r = mkdir_parents(a->data_dir, 0700);
	if (r < 0)
		return r;
	char bin[512], ready[512], port[16];
	snprintf(bin, sizeof(bin), "%s/%s", a->build_dir, name);
	snprintf(ready, sizeof(ready), "%s/%s.url", a->data_dir, short_name);
	snprintf(port, sizeof(port), "%d", a->port);
	const char *argv[MAX_ARGS] = { bin,         "--port",       port, "--data",
				       a->data_dir, "--ready-file", ready };
	int n = 7;
	for (int i = 0; first && first[i]; i++)
		argv[n++] = first[i];
	for (int i = 0; a->extra && a->extra[i]; i++) {
		if (n == MAX_ARGS - 1)
			return -E2BIG;
		argv[n++] = a->extra[i];
	}
	argv[n] = NULL;
	return spawn_and_wait(p, ready, argv, a->timeout_ms);
}

int daemon_proc_start_agent(struct daemon_proc *p, const struct daemon_args *a)
{
	char image[512];
	snprintf(image, sizeof(image), "%s/guest", a->build_dir);
	const char *const first[] = { "--image", image, NULL };
	return start(p, a, "ditto-agent", "agent", first);
}

int daemon_proc_start_controller(struct daemon_proc *p, const struct daemon_args *a)
{
	return start(p, a, "ditto-controller", "controller", NULL);
}

int daemon_proc_port(const struct daemon_proc *p)
{
	const char *colon = strrchr(p->url, ':');
	uint64_t port;
	if (!colon || parse_u64(colon + 1, 1, 65535, &port) < 0)
		return -EINVAL;
	return (int)port;
}

int daemon_proc_stop(struct daemon_proc *p, int sig, long timeout_ms)
{
	if (p->pid <= 0)
		return -ECHILD;
	kill(p->pid, sig);
	uint64_t deadline = time_now_us() + (uint64_t)timeout_ms * 1000u;
	int st = 0, ret = 0;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			break;
		if (r < 0) {
			ret = -errno;
			break;
		}
		if (time_now_us() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			ret = -ETIMEDOUT;
			break;
		}
		sleep_ms(10);
	}
	p->pid = 0;
	if (ret < 0)
		return ret;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
