/* up and down: a local platform of one ditto-controller and one ditto-agent,
 * started from the folder the ditto executable is in, detached into their
 * own sessions, with their pids, logs and data under one folder; with
 * --store postgres, a PostgreSQL server for the controller in DIR/postgres
 * too (lib/pg_local). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pg_local.h"

#define UP_DEADLINE_MS 120000
#define DOWN_TERM_MS 15000
#define DOWN_KILL_MS 5000
#define POLL_MS 100
#define PROBE_TIMEOUT_MS 2000
#define TAIL_LINES 20
#define HOST_ID "local"

/* The files of a platform in DIR. */
struct layout {
	char dir[PATH_MAX - 64]; /* leaves room for the names below */
	char ctl_data[PATH_MAX], ctl_log[PATH_MAX], ctl_pid[PATH_MAX], ctl_ready[PATH_MAX];
	char agent_data[PATH_MAX], agent_log[PATH_MAX], agent_pid[PATH_MAX];
	char admin_key[PATH_MAX], env[PATH_MAX];
	char pg_dir[PATH_MAX]; /* the local PostgreSQL server's folder */
};

static int layout_init(struct layout *l, const char *dir)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n >= sizeof(l->dir))
		return -ENAMETOOLONG;
	snprintf(l->dir, sizeof(l->dir), "%.*s", (int)n, dir);
	snprintf(l->ctl_data, sizeof(l->ctl_data), "%s/controller", l->dir);
	snprintf(l->ctl_log, sizeof(l->ctl_log), "%s/controller.log", l->dir);
	snprintf(l->ctl_pid, sizeof(l->ctl_pid), "%s/controller.pid", l->dir);
	snprintf(l->ctl_ready, sizeof(l->ctl_ready), "%s/controller.url", l->dir);
	snprintf(l->agent_data, sizeof(l->agent_data), "%s/agent", l->dir);
	snprintf(l->agent_log, sizeof(l->agent_log), "%s/agent.log", l->dir);
	snprintf(l->agent_pid, sizeof(l->agent_pid), "%s/agent.pid", l->dir);
	snprintf(l->admin_key, sizeof(l->admin_key), "%s/controller/admin.key", l->dir);
	snprintf(l->env, sizeof(l->env), "%s/ditto.env", l->dir);
	snprintf(l->pg_dir, sizeof(l->pg_dir), "%s/postgres", l->dir);
	return 0;
}

/* ---- processes ------------------------------------------------------------------------- */

/* Is pid a live (not zombie) process whose command name is name? The kernel
 * keeps 15 bytes of the name; comparing them guards against a pid file
 * whose process is gone and whose pid was reused. */
static bool proc_is(pid_t pid, const char *name)
{
	char path[64], stat[512];
	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (file_read_text(path, stat, sizeof(stat)) < 0)
		return false;
	/* "PID (COMM) STATE ...": the name may hold blanks or parentheses,
	 * so the state follows the last ')'. */
	char *open = strchr(stat, '('), *close = strrchr(stat, ')');
	if (!open || !close || close < open || close[1] != ' ')
		return false;
	size_t len = (size_t)(close - open - 1);
	char state = close[2];
	return state != 'Z' && state != 'X' && len > 0 && len == strnlen(name, 15) &&
	       strncmp(open + 1, name, len) == 0;
}

/* The pid in a pid file, or 0 when there is none. */
static pid_t pidfile_read(const char *path)
{
	char text[32];
	uint64_t v;
	if (file_read_text(path, text, sizeof(text)) <= 0 || parse_u64(text, 0, INT_MAX, &v) < 0)
		return 0;
	return (pid_t)v;
}

static int pidfile_write(const char *path, pid_t pid)
{
	char text[32];
	snprintf(text, sizeof(text), "%d\n", (int)pid);
	return file_replace_text(path, text, 0644, false);
}

/* Starts argv[0] detached: a session of its own, stdin from /dev/null,
 * stdout and stderr appended to log, the default signal mask. Returns 0
 * with its pid, or -errno. */
static int spawn(char *const argv[], const char *log, pid_t *ret_pid)
{
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0)
		return -errno;
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		int r = -errno;
		close(out);
		return r;
	}
	pid_t pid = fork();
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		/* dup2 clears close-on-exec on the copies, and nothing else of
		 * this process may leak into a long-lived daemon. */
		if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		execv(argv[0], argv);
		dprintf(2, "ditto: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int r = pid < 0 ? -errno : 0;
	close(in);
	close(out);
	if (r == 0)
		*ret_pid = pid;
	return r;
}

/* Prints the last lines of a log on stderr, to show why a start failed. */
static void log_tail(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[16384];
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *p = buf + n;
	if (p > buf && p[-1] == '\n')
		p--;
	for (int lines = 0; p > buf; p--)
		if (p[-1] == '\n' && ++lines == TAIL_LINES)
			break;
	fprintf(stderr, "--- last lines of %s ---\n%s%s", path, p, buf[n - 1] == '\n' ? "" : "\n");
}

/* Waits until each of the two pidfds (-1 entries are skipped) reports its
 * process gone, closing it, or until timeout_ms. Returns how many remain. */
static int pidfds_wait(int fds[2], long timeout_ms)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p[2];
		int live = 0;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				p[live++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
					  (now.tv_nsec - start.tv_nsec) / 1000000);
		if (live == 0 || left <= 0 ||
		    (poll(p, (nfds_t)live, (int)left) < 0 && errno != EINTR))
			return live;
		for (int k = 0; k < live; k++)
			for (int i = 0; i < 2 && p[k].revents; i++)
				if (fds[i] == p[k].fd) {
					close(fds[i]);
					fds[i] = -1;
				}
	}
}

/* Stops a platform's two processes (0 entries skipped): SIGTERM, a grace
 * of term_ms, then SIGKILL. names, when not NULL, are their command names,
 * checked because a pid read from a file may have been reused; this
 * process's own unreaped children need no check (NULL). Returns how many
 * needed SIGKILL. */
static int stop_pair(const pid_t pids[2], const char *const names[2], long term_ms)
{
	int fds[2] = { -1, -1 };
	for (int i = 0; i < 2; i++) {
		/* The pidfd pins the process, so checking its name after
		 * opening it rules out a reused pid. */
		if (pids[i] <= 0 || (fds[i] = pidfd_open(pids[i], 0)) < 0)
			continue;
		if (names && !proc_is(pids[i], names[i])) {
			close(fds[i]);
			fds[i] = -1;
			continue;
		}
		pidfd_send_signal(fds[i], SIGTERM, NULL, 0);
	}
	int left = pidfds_wait(fds, term_ms);
	if (left > 0) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				pidfd_send_signal(fds[i], SIGKILL, NULL, 0);
		pidfds_wait(fds, DOWN_KILL_MS);
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return left;
}

/* ---- up -------------------------------------------------------------------------------- */

struct up {
	const struct cli_command *cmd;
	struct layout l;
	char bin_dir[PATH_MAX], image[PATH_MAX];
	const char *port, *cores, *wire_capture;
	pid_t ctl, agent; /* running children; 0 once reaped */
	bool ctl_started, agent_started;
	char store[PATH_MAX + 32]; /* the controller's --store; "" for its default */
	bool pg_local;             /* run a PostgreSQL server in DIR/postgres */
	pid_t pg;                  /* that server, when this run started it */
	char url[512], key[256];
	struct timespec deadline;
	sigset_t sigs; /* INT, TERM and CHLD, blocked and waited for */
};

/* Reports why the start failed, shows the logs, stops what was started and
 * returns the exit code. */
static int up_fail(struct up *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int up_fail(struct up *u, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vfail(CLI_EXIT_API, fmt, ap);
	va_end(ap);
	if (u->ctl_started)
		log_tail(u->l.ctl_log);
	if (u->agent_started)
		log_tail(u->l.agent_log);
	const pid_t pids[] = { u->agent, u->ctl };
	stop_pair(pids, NULL, DOWN_TERM_MS);
	/* They are children here: reap them so no zombie outlives this. */
	for (size_t i = 0; i < 2; i++)
		if (pids[i])
			waitpid(pids[i], NULL, WNOHANG);
	if (u->agent_started)
		unlink(u->l.agent_pid);
	if (u->ctl_started)
		unlink(u->l.ctl_pid);
	if (u->pg > 0) {
		pg_local_stop(u->pg, DOWN_TERM_MS);
		waitpid(u->pg, NULL, 0);
	}
	return CLI_EXIT_API;
}

static bool past(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Waits one polling step for a signal. Returns 0 to poll again, or the exit
 * code after failing when a child died, the user interrupted or the
 * deadline passed. what names the wait for the messages. */
static int up_step(struct up *u, const char *what)
{
	struct timespec step = { 0, POLL_MS * 1000000L };
	int sig = sigtimedwait(&u->sigs, NULL, &step);
	if (sig == SIGINT || sig == SIGTERM)
		return up_fail(u, "interrupted while waiting for %s", what);
	int st;
	pid_t *pids[] = { &u->ctl, &u->agent };
	const char *const names[] = { "ditto-controller", "ditto-agent" };
	for (size_t i = 0; i < 2; i++) {
		if (*pids[i] && waitpid(*pids[i], &st, WNOHANG) == *pids[i]) {
			*pids[i] = 0;
			if (WIFEXITED(st))
				return up_fail(u, "%s exited with status %d while waiting for %s",
					       names[i], WEXITSTATUS(st), what);
			return up_fail(u, "%s was killed by signal %d while waiting for %s",
				       names[i], WTERMSIG(st), what);
		}
	}
	if (past(&u->deadline))
		return up_fail(u, "gave up after %d s waiting for %s", UP_DEADLINE_MS / 1000, what);
	return 0;
}

static int start(struct up *u, char *const argv[], const char *log, const char *pidfile,
		 pid_t *ret_pid, bool *ret_started)
{
	int r = spawn(argv, log, ret_pid);
	if (r < 0)
		return up_fail(u, "cannot start %s: %s", argv[0], strerror(-r));
	*ret_started = true;
	if ((r = pidfile_write(pidfile, *ret_pid)) < 0)
		return up_fail(u, "cannot write %s: %s", pidfile, strerror(-r));
	return 0;
}

/* One GET on the platform. Returns the HTTP status (0 when no answer came),
 * with the JSON answer in *ret when ret is not NULL. */
static long probe(struct http_client *c, const char *path, json_t **ret)
{
	struct http_request rq = { .method = "GET", .path = path, .timeout_ms = PROBE_TIMEOUT_MS };
	struct http_response resp;
	if (http_perform(c, &rq, &resp) < 0)
		return 0;
	if (ret)
		*ret = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
	long status = resp.status;
	http_response_free(&resp);
	return status;
}

static int wait_controller(struct up *u)
{
	struct http_client c = { 0 };
	int code = 0;
	for (;;) {
		if (!u->url[0] && file_read_text(u->l.ctl_ready, u->url, sizeof(u->url)) > 0 &&
		    http_client_init(&c, u->url, NULL) < 0) {
			http_client_free(&c);
			return up_fail(u, "the controller wrote a URL that is not usable: %s",
				       u->url);
		}
		if (u->url[0] && probe(&c, "/healthz", NULL) == 200)
			break;
		if ((code = up_step(u, "the controller")))
			break;
	}
	http_client_free(&c);
	return code;
}

/* Waits for the agent to register as host "local" and be up. */
static int wait_host(struct up *u)
{
	struct http_client c;
	if (http_client_init(&c, u->url, u->key) < 0)
		return up_fail(u, "the admin key in %s is malformed", u->l.admin_key);
	int code = 0;
	for (;;) {
		json_t *o = NULL;
		long st = probe(&c, "/v1/hosts", &o);
		const json_t *hosts = json_object_get(o, "hosts");
		bool up = false;
		for (size_t i = 0; i < json_array_size(hosts); i++) {
			const json_t *h = json_array_get(hosts, i);
			if (strcmp(or_dash(field_str(h, "id")), HOST_ID) == 0)
				up = strcmp(or_dash(field_str(h, "state")), "up") == 0;
		}
		json_decref(o);
		if (up) {
			code = 0;
			break;
		}
		/* A refusal will not change by waiting; a 5xx or no answer may. */
		if (st >= 400 && st < 500) {
			code = up_fail(u, "the controller refused GET /v1/hosts (HTTP %ld)", st);
			break;
		}
		if ((code = up_step(u, "the agent to register as host " HOST_ID)))
			break;
	}
	http_client_free(&c);
	return code;
}

/* Writes DITTO_URL and DITTO_KEY lines, readable by the owner only, through
 * a temporary file so a reader never sees half of it. */
static int write_env(const struct up *u)
{
	char text[1024];
	if (snprintf(text, sizeof(text), "DITTO_URL=%s\nDITTO_KEY=%s\n", u->url, u->key) >=
	    (int)sizeof(text))
		return -ENAMETOOLONG;
	return file_replace_text(u->l.env, text, 0600, false);
}

/* Says whether a platform from the folder runs. Returns -1 when none does
 * (stale pid files are removed), else the exit code after saying so. */
static int check_running(const struct cli *cli, const struct layout *l)
{
	pid_t ctl = pidfile_read(l->ctl_pid), agent = pidfile_read(l->agent_pid);
	bool ctl_up = proc_is(ctl, "ditto-controller"), agent_up = proc_is(agent, "ditto-agent");
	if (!ctl_up && !agent_up) {
		unlink(l->ctl_pid);
		unlink(l->agent_pid);
		return -1;
	}
	if (!ctl_up || !agent_up)
		return cli_fail(
			CLI_EXIT_API,
			"the platform from %s is partly running (%s pid %d only); stop it with "
			"ditto down --data-dir %s",
			l->dir, ctl_up ? "controller" : "agent", (int)(ctl_up ? ctl : agent),
			l->dir);
	char url[512] = "";
	cli_env_file_read(l->env, url, sizeof(url), NULL, 0);
	if (cli->json) {
		json_t *o = json_pack("{s:b, s:s, s:s, s:i, s:i}", "already_running", 1, "url", url,
				      "env_file", l->env, "controller_pid", (int)ctl, "agent_pid",
				      (int)agent);
		int code = cli_print_json(o);
		json_decref(o);
		return code;
	}
	printf("a platform from %s is already running at %s (controller pid %d, agent pid %d)\n",
	       l->dir, url[0] ? url : "?", (int)ctl, (int)agent);
	return CLI_EXIT_OK;
}

static int up_print(const struct cli *cli, const struct up *u)
{
	char store[sizeof(u->store)];
	snprintf(store, sizeof(store), "%s", u->store);
	if (!store[0])
		snprintf(store, sizeof(store), "sqlite:%.*s/ditto.db", PATH_MAX - 16,
			 u->l.ctl_data);
	pid_t pg = u->pg_local ? pg_local_pid(u->l.pg_dir) : 0;
	if (cli->json) {
		json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:i, s:i, s:s}", "already_running", 0,
				      "url", u->url, "admin_key", u->key, "env_file", u->l.env,
				      "controller_pid", (int)u->ctl, "agent_pid", (int)u->agent,
				      "store", store);
		if (pg)
			json_object_set_new(o, "postgres_pid", json_integer(pg));
		int code = cli_print_json(o);
		json_decref(o);
		return code;
	}
	struct table t;
	table_init(&t, 2);
	table_row(&t, "URL:", u->url);
	table_row(&t, "Admin key:", u->key);
	table_add(&t, "Controller:");
	table_add(&t, "pid %d, log %s", (int)u->ctl, u->l.ctl_log);
	table_add(&t, "Agent:");
	table_add(&t, "host %s, pid %d, log %s", HOST_ID, (int)u->agent, u->l.agent_log);
	table_row(&t, "Store:", store);
	if (pg) {
		table_add(&t, "PostgreSQL:");
		table_add(&t, "pid %d, log %s/postgres.log", (int)pg, u->l.pg_dir);
	}
	table_add(&t, "Env file:");
	table_add(&t, "%s (ditto reads it when DITTO_KEY is unset: from ./data, or set DITTO_ENV)",
		  u->l.env);
	return cli_print_table(&t);
}

/* Reads --store: sqlite (the controller's default), sqlite:PATH, postgres (a local server
 * in DIR/postgres) or postgres:CONNINFO. Returns false when it is none of these. */
static bool parse_store(struct up *u, const char *v)
{
	u->store[0] = '\0';
	u->pg_local = strcmp(v, "postgres") == 0;
	if (u->pg_local || strcmp(v, "sqlite") == 0)
		return true;
	bool named = (strncmp(v, "sqlite:", 7) == 0 && v[7]) ||
		     (strncmp(v, "postgres:", 9) == 0 && v[9]);
	return named && snprintf(u->store, sizeof(u->store), "%s", v) < (int)sizeof(u->store);
}

/* Starts the local PostgreSQL server in DIR/postgres, or takes the one an earlier up left
 * running there, and names it in u->store. Run as root, the server runs as the postgres
 * user, which must pass through DIR (made 0711) to its folder. Returns 0 or the exit
 * code after failing. */
static int start_pg(struct up *u)
{
	char dir[PATH_MAX], conninfo[PATH_MAX];
	if (!realpath(u->l.dir, dir))
		return up_fail(u, "cannot resolve %s: %s", u->l.dir, strerror(errno));
	/* The socket's folder in the conninfo must be absolute. */
	snprintf(u->l.pg_dir, sizeof(u->l.pg_dir), "%.*s/postgres", PATH_MAX - 16, dir);
	if (!proc_is(pg_local_pid(u->l.pg_dir), "postgres")) {
		if (geteuid() == 0 && chmod(dir, 0711) < 0)
			return up_fail(u, "cannot open %s to the postgres user: %s", dir,
				       strerror(errno));
		struct pg_local pg;
		int r = pg_local_init(&pg, u->l.pg_dir, PG_LOCAL_DETACH);
		if (r == 0)
			r = pg_local_start(&pg, UP_DEADLINE_MS);
		if (r < 0)
			return up_fail(u, "cannot start PostgreSQL in %s: %s", u->l.pg_dir,
				       pg.error);
		u->pg = pg.pid;
	}
	if (pg_local_conninfo(u->l.pg_dir, "ditto", conninfo, sizeof(conninfo)) < 0)
		return up_fail(u, "%s is too long a path for PostgreSQL", u->l.pg_dir);
	snprintf(u->store, sizeof(u->store), "postgres:%s", conninfo);
	return 0;
}

/* Starts the store when it is ours to run, then the controller, and waits until it
 * answers. Returns 0 or the exit code after failing. */
static int start_controller(struct up *u, char *ctl_bin)
{
	int code;
	if (u->pg_local && (code = start_pg(u)))
		return code;
	unlink(u->l.ctl_ready);
	char *argv[] = { ctl_bin,        "--data",       u->l.ctl_data, "--port", (char *)u->port,
			 "--ready-file", u->l.ctl_ready, NULL,          NULL,     NULL };
	if (u->store[0]) {
		argv[7] = "--store";
		argv[8] = u->store;
	}
	if ((code = start(u, argv, u->l.ctl_log, u->l.ctl_pid, &u->ctl, &u->ctl_started)))
		return code;
	return wait_controller(u);
}

/* Finds the daemons and the guest image next to the ditto executable. */
static int find_binaries(struct up *u, const char *image, char *ctl_bin, char *agent_bin)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return cli_fail(CLI_EXIT_API, "cannot find the ditto executable: %s",
				strerror(errno));
	self[n] = '\0';
	snprintf(u->bin_dir, sizeof(u->bin_dir), "%s", dirname(self));
	snprintf(ctl_bin, PATH_MAX, "%.*s/ditto-controller", PATH_MAX - 20, u->bin_dir);
	snprintf(agent_bin, PATH_MAX, "%.*s/ditto-agent", PATH_MAX - 20, u->bin_dir);
	if (image)
		snprintf(u->image, sizeof(u->image), "%s", image);
	else
		snprintf(u->image, sizeof(u->image), "%.*s/guest", PATH_MAX - 20, u->bin_dir);
	const char *const bins[] = { ctl_bin, agent_bin };
	for (size_t i = 0; i < 2; i++)
		if (access(bins[i], X_OK) < 0)
			return cli_fail(CLI_EXIT_API, "cannot run %s: %s (build it with make)",
					bins[i], strerror(errno));
	struct stat st;
	if (stat(u->image, &st) < 0 || !S_ISDIR(st.st_mode))
		return cli_fail(CLI_EXIT_API,
				"no guest image at %s (build it with make guest, or pass --image)",
				u->image);
	return 0;
}

static int run_up(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_DIR = OPT_FIRST_COMMAND, O_PORT, O_CORES, O_IMAGE, O_WIRE_CAPTURE, O_STORE };
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, O_DIR },
		{ "store", required_argument, NULL, O_STORE },
		{ "port", required_argument, NULL, O_PORT },
		{ "cores", required_argument, NULL, O_CORES },
		{ "image", required_argument, NULL, O_IMAGE },
		{ "wire-capture", required_argument, NULL, O_WIRE_CAPTURE },
		CLI_GLOBAL_OPTIONS,
	};
	struct up u = { .cmd = cmd, .port = "8080" };
	const char *dir = "data", *image = NULL;
	uint64_t v;
	int c, code;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_DIR: dir = optarg; break;
		case O_IMAGE: image = optarg; break;
		case O_STORE:
			if (!parse_store(&u, optarg))
				return cli_usage_error(
					cmd,
					"--store must be sqlite, sqlite:PATH, postgres "
					"or postgres:CONNINFO, got \"%s\"",
					optarg);
			break;
		case O_WIRE_CAPTURE:
			if (!*optarg)
				return cli_usage_error(cmd, "--wire-capture needs a folder");
			u.wire_capture = optarg;
			break;
		case O_CORES:
			if (!*optarg)
				return cli_usage_error(
					cmd, "--cores needs a value such as all or 0-3,6");
			u.cores = optarg;
			break;
		case O_PORT:
			if (parse_u64(optarg, 0, 65535, &v) < 0)
				return cli_usage_error(cmd, "--port must be 0..65535, got \"%s\"",
						       optarg);
			u.port = optarg;
			break;
		default: return cli_opt_default(cmd, c);
		}
	}
	if ((code = cli_need_args(cmd, argc, argv, 0, 0)))
		return code;
	if (!*dir || layout_init(&u.l, dir) < 0)
		return cli_usage_error(cmd, "--data-dir must be a folder path of a sane length");
	int r = mkdir_parents(u.l.dir, 0700);
	if (r < 0)
		return cli_fail(CLI_EXIT_API, "cannot create %s: %s", u.l.dir, strerror(-r));
	if ((code = check_running(cli, &u.l)) >= 0)
		return code;
	char ctl_bin[PATH_MAX], agent_bin[PATH_MAX];
	if ((code = find_binaries(&u, image, ctl_bin, agent_bin)))
		return code;
	if ((r = mkdir_parents(u.l.agent_data, 0700)) < 0)
		return cli_fail(CLI_EXIT_API, "cannot create %s: %s", u.l.agent_data, strerror(-r));

	/* The signals that end a wait arrive through sigtimedwait; the
	 * daemons get the default mask back before they run. */
	sigemptyset(&u.sigs);
	sigaddset(&u.sigs, SIGINT);
	sigaddset(&u.sigs, SIGTERM);
	sigaddset(&u.sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &u.sigs, NULL);
	clock_gettime(CLOCK_MONOTONIC, &u.deadline);
	u.deadline.tv_sec += UP_DEADLINE_MS / 1000;

	if ((code = start_controller(&u, ctl_bin)))
		return code;
	if (file_read_text(u.l.admin_key, u.key, sizeof(u.key)) <= 0)
		return up_fail(&u, "cannot read the admin key in %s", u.l.admin_key);

	char *agent_argv[20] = {
		agent_bin,     "--data",    u.l.agent_data, "--port", "0",
		"--image",     u.image,     "--controller", u.url,    "--controller-key-file",
		u.l.admin_key, "--host-id", HOST_ID
	};
	int n = 13;
	if (u.cores) {
		agent_argv[n++] = "--cores";
		agent_argv[n++] = (char *)u.cores;
	}
	if (u.wire_capture) {
		agent_argv[n++] = "--wire-capture";
		agent_argv[n++] = (char *)u.wire_capture;
	}
	if ((code = start(&u, agent_argv, u.l.agent_log, u.l.agent_pid, &u.agent,
			  &u.agent_started)) ||
	    (code = wait_host(&u)))
		return code;
	if ((r = write_env(&u)) < 0)
		return up_fail(&u, "cannot write %s: %s", u.l.env, strerror(-r));
	return up_print(cli, &u);
}

const struct cli_command cmd_up = {
	"up",
	"[--data-dir DIR] [--port N] [--cores SPEC] [--image DIR] [--store STORE] "
	"[--wire-capture DIR]",
	"start a local platform: a controller and one agent, in the background",
	"Starts ditto-controller and ditto-agent from the folder the ditto executable is in,\n"
	"detached, with their data, logs (controller.log, agent.log) and pid files in DIR, and\n"
	"waits until the agent is registered and up as host \"local\". Prints the URL and the\n"
	"admin key, and writes them as DITTO_URL= and DITTO_KEY= lines to DIR/ditto.env (mode\n"
	"0600). When a platform from DIR already runs, says so and exits 0. When the start fails,\n"
	"prints the end of the logs and stops what it started.\n\n"
	"options:\n"
	"  --data-dir DIR   where everything goes (default ./data)\n"
	"  --port N         the controller's port (default 8080; 0 for any free one)\n"
	"  --cores SPEC     host cores the agent may give VMs: all or a list like 0-3,6\n"
	"  --image DIR      the guest image (default: guest/ next to the ditto executable)\n"
	"  --store STORE    the controller's store: sqlite (the default: DIR/controller/ditto.db),\n"
	"                   sqlite:PATH, postgres:CONNINFO (a PostgreSQL server of yours; libpq's\n"
	"                   key=value or postgresql:// forms), or postgres: a local PostgreSQL\n"
	"                   server for a demo in DIR/postgres (initdb on first use; as root it\n"
	"                   runs as the postgres user), which ditto down stops too\n"
	"  --wire-capture DIR\n"
	"                   debugging aid, passed to the agent: append every byte it sends to\n"
	"                   and reads from each VM's guest channel to DIR/VM.to-guest and\n"
	"                   DIR/VM.from-guest (what the host sees of invocations)\n",
	run_up,
};

static int run_down(struct cli *cli, const struct cli_command *cmd, int argc, char **argv)
{
	enum { O_DIR = OPT_FIRST_COMMAND };
	static const struct option opts[] = { { "data-dir", required_argument, NULL, O_DIR },
					      CLI_GLOBAL_OPTIONS };
	const char *dir = "data";
	int c, code;
	while ((c = cli_getopt(cli, cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case O_DIR: dir = optarg; break;
		default: return cli_opt_default(cmd, c);
		}
	}
	if ((code = cli_need_args(cmd, argc, argv, 0, 0)))
		return code;
	struct layout l;
	if (!*dir || layout_init(&l, dir) < 0)
		return cli_usage_error(cmd, "--data-dir must be a folder path of a sane length");
	const char *const names[] = { "ditto-agent", "ditto-controller" };
	pid_t pids[] = { pidfile_read(l.agent_pid), pidfile_read(l.ctl_pid) };
	for (size_t i = 0; i < 2; i++)
		if (!proc_is(pids[i], names[i]))
			pids[i] = 0;
	pid_t pg = pg_local_pid(l.pg_dir);
	if (!proc_is(pg, "postgres"))
		pg = 0;
	if (!pids[0] && !pids[1] && !pg) {
		unlink(l.agent_pid);
		unlink(l.ctl_pid);
		return cli_fail(CLI_EXIT_API, "no platform is running from %s", l.dir);
	}
	int killed = stop_pair(pids, names, DOWN_TERM_MS);
	for (size_t i = 0; i < 2; i++)
		if (proc_is(pids[i], names[i]))
			return cli_fail(CLI_EXIT_API,
					"%s (pid %d) did not stop, even after SIGKILL", names[i],
					(int)pids[i]);
	unlink(l.agent_pid);
	unlink(l.ctl_pid);
	/* The store goes last, once the controller no longer needs it. */
	if (pg && pg_local_stop(pg, DOWN_TERM_MS) < 0)
		return cli_fail(CLI_EXIT_API,
				"PostgreSQL (pid %d) did not stop, even after SIGKILL", (int)pg);
	if (cli->json) {
		json_t *o = json_pack("{s:i, s:i, s:i}", "controller_pid", (int)pids[1],
				      "agent_pid", (int)pids[0], "killed", killed);
		if (pg)
			json_object_set_new(o, "postgres_pid", json_integer(pg));
		code = cli_print_json(o);
		json_decref(o);
		return code;
	}
	char pg_text[48] = "";
	if (pg)
		snprintf(pg_text, sizeof(pg_text), ", postgres pid %d", (int)pg);
	printf("stopped the platform from %s (controller pid %d, agent pid %d%s%s)\n", l.dir,
	       (int)pids[1], (int)pids[0], pg_text, killed ? "; SIGKILL was needed" : "");
	return CLI_EXIT_OK;
}

const struct cli_command cmd_down = {
	"down",
	"[--data-dir DIR]",
	"stop the local platform that ditto up started",
	"Sends SIGTERM to the controller and the agent, waits up to 15 s, then SIGKILL, and\n"
	"removes the pid files; then stops the PostgreSQL server of ditto up --store postgres\n"
	"(a fast shutdown; its data stays in DIR/postgres for the next up). Exits 1 when nothing\n"
	"was running.\n\n"
	"options:\n"
	"  --data-dir DIR   the folder given to ditto up (default ./data)\n",
	run_down,
};
