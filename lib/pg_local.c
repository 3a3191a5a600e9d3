#include "pg_local.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define PG_KILL_MS 5000L

static int fail(struct pg_local *pg, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct pg_local *pg, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pg->error, sizeof(pg->error), fmt, ap);
	va_end(ap);
	return r;
}

/* Adds the last line of the server's log to pg->error: most often the reason itself. */
static void add_log_line(struct pg_local *pg)
{
	char path[PATH_MAX + 16], text[4096];
	snprintf(path, sizeof(path), "%s/postgres.log", pg->dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > (off_t)sizeof(text) - 1 ? size - (off_t)sizeof(text) + 1 : 0;
	ssize_t n = pread(fd, text, sizeof(text) - 1, from);
	close(fd);
	while (n > 0 && text[n - 1] == '\n')
		n--;
	if (n <= 0)
		return;
	text[n] = '\0';
	const char *last = strrchr(text, '\n');
	size_t len = strlen(pg->error);
	snprintf(pg->error + len, sizeof(pg->error) - len, ": %s", last ? last + 1 : text);
}

/* Whether dir holds runnable initdb and postgres. */
static bool bindir_ok(const char *dir)
{
	char path[PATH_MAX];
	const char *const names[] = { "initdb", "postgres" };
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (access(path, X_OK) < 0)
			return false;
	}
	return true;
}

/* The newest /usr/lib/postgresql/VERSION/bin with the server binaries, as Debian lays
 * them out; -ENOENT when there is none. */
static int bindir_debian(char *out, size_t size)
{
	glob_t g;
	if (glob("/usr/lib/postgresql/*/bin", GLOB_ONLYDIR, NULL, &g) != 0)
		return -ENOENT;
	const char *best = NULL;
	double best_version = -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		double v = strtod(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL);
		if (v > best_version && bindir_ok(g.gl_pathv[i])) {
			best = g.gl_pathv[i];
			best_version = v;
		}
	}
	int r = !best ? -ENOENT : snprintf(out, size, "%s", best) >= (int)size ? -ENAMETOOLONG : 0;
	globfree(&g);
	return r;
}

int pg_local_bindir(char *out, size_t size)
{
	FILE *f = popen("pg_config --bindir 2>/dev/null", "re");
	if (f) {
		char line[PATH_MAX] = "";
		bool got = fgets(line, sizeof(line), f) != NULL;
		pclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (got && line[0] && bindir_ok(line))
			return snprintf(out, size, "%s", line) >= (int)size ? -ENAMETOOLONG : 0;
	}
	return bindir_debian(out, size);
}

/* Whom the server runs as: this process's user, or the postgres user under root (the
 * server refuses to run as root). The superuser of the cluster is named after this
 * process's user, so that libpq's default user name logs in. */
static int pick_user(struct pg_local *pg)
{
	const struct passwd *me = getpwuid(geteuid());
	snprintf(pg->user, sizeof(pg->user), "%s", me ? me->pw_name : "postgres");
	pg->uid = geteuid();
	pg->gid = getegid();
	if (pg->uid != 0)
		return 0;
	const struct passwd *p = getpwnam("postgres");
	if (!p)
		return fail(pg, -ENOENT, "there is no postgres user to run the server as");
	pg->uid = p->pw_uid;
	pg->gid = p->pw_gid;
	return 0;
}

/* The child's side of a fork: the default signal mask, its own session when detached,
 * stdin from in (or /dev/null), output appended to the log, the server's user, DIR as
 * working folder (a root's home may be closed to that user). Never returns. */
static void exec_child(const struct pg_local *pg, int in, char *const argv[])
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (pg->flags & PG_LOCAL_DETACH)
		setsid();
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s/postgres.log", pg->dir);
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (in < 0)
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out < 0 || in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	if (geteuid() == 0 && pg->uid != 0 &&
	    (setgroups(0, NULL) < 0 || setresgid(pg->gid, pg->gid, pg->gid) < 0 ||
	     setresuid(pg->uid, pg->uid, pg->uid) < 0)) {
		dprintf(2, "cannot switch to uid %d: %s\n", (int)pg->uid, strerror(errno));
		_exit(127);
	}
	if (chdir(pg->dir) < 0) {
		dprintf(2, "cannot enter %s: %s\n", pg->dir, strerror(errno));
		_exit(127);
	}
	close_range(3, ~0U, 0);
	execv(argv[0], argv);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Runs argv to its end, with input (may be NULL) on its stdin. Returns its exit status,
 * 128 + the signal that ended it, or -errno. */
static int run(const struct pg_local *pg, char *const argv[], const char *input)
{
	int fds[2] = { -1, -1 };
	if (input && pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0)
		exec_child(pg, fds[0], argv);
	int r = pid < 0 ? -errno : 0;
	if (fds[0] >= 0)
		close(fds[0]);
	if (input && pid > 0) {
		/* A child that dies early closes the pipe: no SIGPIPE for the starter. */
		sigset_t pipe_sig, old;
		sigemptyset(&pipe_sig);
		sigaddset(&pipe_sig, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
		ssize_t n = write(fds[1], input, strlen(input));
		(void)n;
		close(fds[1]);
		struct timespec zero = { 0, 0 };
		sigtimedwait(&pipe_sig, NULL, &zero);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	} else if (fds[1] >= 0) {
		close(fds[1]);
	}
	if (r < 0)
		return r;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* initdb, then the database "ditto" through a single-user server. */
static int make_cluster(struct pg_local *pg, const char *data)
{
	char initdb[PATH_MAX], postgres[PATH_MAX], user[80];
	snprintf(initdb, sizeof(initdb), "%s/initdb", pg->bin);
	snprintf(postgres, sizeof(postgres), "%s/postgres", pg->bin);
	snprintf(user, sizeof(user), "--username=%s", pg->user);
	char *const init_argv[] = { initdb,
				    "-D",
				    (char *)data,
				    user,
				    "--auth=trust",
				    "--encoding=UTF8",
				    "--locale=C",
				    (pg->flags & PG_LOCAL_FAST) ? "--no-sync" : NULL,
				    NULL };
	int r = run(pg, init_argv, NULL);
	if (r != 0) {
		fail(pg, -EIO, "initdb failed (%d)", r);
		add_log_line(pg);
		return -EIO;
	}
	char *const single_argv[] = { postgres, "--single",         "-D",       (char *)data,
				      "-c",     "exit_on_error=on", "postgres", NULL };
	if ((r = run(pg, single_argv, "CREATE DATABASE ditto\n")) != 0) {
		fail(pg, -EIO, "creating the database ditto failed (%d)", r);
		add_log_line(pg);
		return -EIO;
	}
	return 0;
}

int pg_local_init(struct pg_local *pg, const char *dir, unsigned flags)
{
	memset(pg, 0, sizeof(*pg));
	pg->flags = flags;
	if (snprintf(pg->dir, sizeof(pg->dir), "%s", dir) >= (int)sizeof(pg->dir) ||
	    strlen(dir) + sizeof("/.s.PGSQL.65535") > sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(pg, -ENAMETOOLONG, "%s is too long a path for a Unix socket", dir);
	int r = pg_local_bindir(pg->bin, sizeof(pg->bin));
	if (r < 0)
		return fail(pg, r,
			    "PostgreSQL's server binaries (initdb, postgres) are not installed");
	if ((r = pick_user(pg)) < 0)
		return r;
	if ((r = mkdir_parents(dir, 0700)) < 0)
		return fail(pg, r, "cannot create %s: %s", dir, strerror(-r));
	if (chown(dir, pg->uid, pg->gid) < 0 || chmod(dir, 0700) < 0)
		return fail(pg, -errno, "cannot hand %s to uid %d: %s", dir, (int)pg->uid,
			    strerror(errno));
	char data[PATH_MAX], version[PATH_MAX + 16];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(version, sizeof(version), "%s/PG_VERSION", data);
	if (access(version, F_OK) == 0)
		return 0;
	return make_cluster(pg, data);
}

/* Whether the postmaster.pid in data names pid and says it accepts connections (its 8th
 * line, "ready"; written once the server is open for connections). */
static bool server_ready(const char *data, pid_t pid)
{
	char path[PATH_MAX + 16], text[2048];
	snprintf(path, sizeof(path), "%s/postmaster.pid", data);
	if (file_read_text(path, text, sizeof(text)) <= 0 || atoi(text) != pid)
		return false;
	const char *line = text;
	for (int i = 1; i < 8 && line; i++)
		if ((line = strchr(line, '\n')))
			line++;
	return line && strncmp(line, "ready", 5) == 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int pg_local_start(struct pg_local *pg, long timeout_ms)
{
	char postgres[PATH_MAX], data[PATH_MAX];
	snprintf(postgres, sizeof(postgres), "%s/postgres", pg->bin);
	snprintf(data, sizeof(data), "%s/data", pg->dir);
	char *argv[32] = { postgres,
			   "-D",
			   data,
			   "-k",
			   pg->dir,
			   "-p",
			   "5432",
			   "-c",
			   "listen_addresses=",
			   "-c",
			   "max_connections=200" };
	int n = 11;
	if (pg->flags & PG_LOCAL_FAST) {
		const char *fast[] = { "fsync=off", "synchronous_commit=off",
				       "full_page_writes=off", "shared_buffers=16MB" };
		for (size_t i = 0; i < sizeof(fast) / sizeof(fast[0]); i++) {
			argv[n++] = "-c";
			argv[n++] = (char *)fast[i];
		}
	}
	pid_t pid = fork();
	if (pid < 0)
		return fail(pg, -errno, "cannot fork: %s", strerror(errno));
	if (pid == 0)
		exec_child(pg, -1, argv);
	uint64_t deadline = time_now_us() + (uint64_t)timeout_ms * 1000u;
	/* Steps grow from 2 to 50 ms: a server ready soon is seen soon. */
	for (long step = 2;; step = step < 50 ? step * 2 : 50) {
		if (server_ready(data, pid)) {
			pg->pid = pid;
			return 0;
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fail(pg, -ECHILD, "postgres exited (%d)",
			     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			add_log_line(pg);
			return -ECHILD;
		}
		if (time_now_us() > deadline) {
			pg_local_stop(pid, 0);
			waitpid(pid, NULL, 0);
			return fail(pg, -ETIMEDOUT, "postgres was not ready after %ld ms",
				    timeout_ms);
		}
		sleep_ms(step);
	}
}

/* Appends " key=value" to out, the value quoted when libpq needs it. */
static int conninfo_add(struct buf *b, const char *key, const char *value)
{
	if (value[0] && strcspn(value, " \t\n'\\") == strlen(value))
		return buf_printf(b, "%s%s=%s", b->len ? " " : "", key, value);
	int r = buf_printf(b, "%s%s='", b->len ? " " : "", key);
	for (const char *p = value; r == 0 && *p; p++)
		r = buf_printf(b, "%s%c", *p == '\'' || *p == '\\' ? "\\" : "", *p);
	return r < 0 ? r : buf_printf(b, "'");
}

int pg_local_conninfo(const char *dir, const char *dbname, char *out, size_t size)
{
	struct buf b = { 0 };
	int r = conninfo_add(&b, "host", dir);
	if (r == 0)
		r = buf_printf(&b, " port=%d", PG_LOCAL_PORT);
	if (r == 0)
		r = conninfo_add(&b, "dbname", dbname);
	if (r == 0 && (b.len >= size || !b.data))
		r = -ENAMETOOLONG;
	if (r == 0)
		snprintf(out, size, "%.*s", (int)b.len, (const char *)b.data);
	buf_free(&b);
	return r;
}

pid_t pg_local_pid(const char *dir)
{
	char path[PATH_MAX + 32], text[2048];
	uint64_t v;
	snprintf(path, sizeof(path), "%s/data/postmaster.pid", dir);
	if (file_read_text(path, text, sizeof(text)) <= 0)
		return 0;
	text[strcspn(text, "\n")] = '\0';
	return parse_u64(text, 1, INT32_MAX, &v) < 0 ? 0 : (pid_t)v;
}

/* Sends sig through the pidfd and waits up to ms for the process to end. */
static bool signal_and_wait(int fd, int sig, long ms)
{
	pidfd_send_signal(fd, sig, NULL, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t deadline = time_now_us() + (uint64_t)ms * 1000u;
	for (;;) {
		uint64_t now = time_now_us();
		long left = now >= deadline ? 0 : (long)((deadline - now) / 1000);
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return true;
		if (r == 0 || errno != EINTR)
			return false;
	}
}

int pg_local_stop(pid_t pid, long timeout_ms)
{
	if (pid <= 0)
		return 0;
	int fd = pidfd_open(pid, 0);
	if (fd < 0)
		return errno == ESRCH ? 0 : -errno;
	bool gone = signal_and_wait(fd, SIGINT, timeout_ms) ||
		    signal_and_wait(fd, SIGQUIT, PG_KILL_MS) ||
		    signal_and_wait(fd, SIGKILL, PG_KILL_MS);
	close(fd);
	return gone ? 0 : -ETIMEDOUT;
}
