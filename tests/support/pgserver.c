#include "support/pgserver.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg_local.h"
#include "support/files.h"

/* initdb and a first start take seconds, more on a loaded machine. */
#define PGSERVER_START_MS 120000L
#define PGSERVER_STOP_MS 30000L

/* The watcher's life: it waits for SIGUSR1 (pgserver_stop took over) or SIGTERM (the
 * parent died: PR_SET_PDEATHSIG), then stops the server and removes the folder. The
 * signals it waits for were blocked before the fork, so none is lost. */
static void watch(pid_t parent, pid_t server, const char *dir)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGUSR1);
	/* A Ctrl-C reaches the whole process group: the test dies of it, and that is the
	 * signal to act on, not the Ctrl-C itself. */
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGHUP);
	sigprocmask(SIG_BLOCK, &s, NULL);
	close_range(3, ~0U, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	int sig = getppid() != parent ? SIGTERM : 0;
	while (sig != SIGTERM && sig != SIGUSR1)
		sig = sigwaitinfo(&s, NULL);
	if (sig == SIGTERM) {
		pg_local_stop(server, PGSERVER_STOP_MS);
		remove_tree(dir);
	}
	_exit(0);
}

static int start_watcher(struct pgserver *pg)
{
	sigset_t s, old;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		watch(parent, pg->pid, pg->dir);
	int r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		pg->watcher = pid;
	return r;
}

int pgserver_start(struct pgserver *ret)
{
	memset(ret, 0, sizeof(*ret));
	int r = scratch_dir(ret->dir, sizeof(ret->dir), "pg");
	if (r < 0) {
		snprintf(ret->error, sizeof(ret->error), "no scratch folder: %s", strerror(-r));
		return r;
	}
	struct pg_local pg;
	r = pg_local_init(&pg, ret->dir, PG_LOCAL_FAST);
	if (r == 0)
		r = pg_local_start(&pg, PGSERVER_START_MS);
	if (r == 0)
		ret->pid = pg.pid;
	if (r == 0 &&
	    (r = pg_local_conninfo(ret->dir, "ditto", ret->conninfo, sizeof(ret->conninfo))) < 0)
		snprintf(pg.error, sizeof(pg.error), "the folder's name is too long");
	if (r == 0 && (r = start_watcher(ret)) < 0)
		snprintf(pg.error, sizeof(pg.error), "cannot fork: %s", strerror(-r));
	if (r < 0) {
		snprintf(ret->error, sizeof(ret->error), "%s", pg.error);
		pgserver_stop(ret);
	}
	return r;
}

/* Runs one statement. Returns 0, -EEXIST when the object exists already (SQLSTATE 42P04,
 * duplicate_database), or -EIO. */
static int exec_sql(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0
		: state && strcmp(state, "42P04") == 0  ? -EEXIST
							: -EIO;
	PQclear(res);
	return r;
}

int pgserver_new_db(struct pgserver *pg, char *conninfo, size_t size)
{
	PGconn *c = PQconnectdb(pg->conninfo);
	int r = PQstatus(c) == CONNECTION_OK ? 0 : -EIO;
	long n = 0;
	if (r == 0) {
		PGresult *res = PQexec(c, "SELECT count(*) FROM pg_database");
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			n = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	/* Names already taken (by another process's call) are skipped. */
	char name[32];
	for (int tries = 0; r == 0 && tries < 1000; tries++, n++) {
		char sql[64];
		snprintf(name, sizeof(name), "t%ld", n);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
		if ((r = exec_sql(c, sql)) != -EEXIST)
			break;
		r = tries + 1 < 1000 ? 0 : -EEXIST;
	}
	if (r == 0)
		r = pg_local_conninfo(pg->dir, name, conninfo, size);
	PQfinish(c);
	return r;
}

/* Ends the watcher (it leaves everything as it is), then stops the server. Returns 0 or
 * -errno. */
static int server_stop(struct pgserver *pg)
{
	int r = 0;
	if (pg->watcher > 0) {
		kill(pg->watcher, SIGUSR1);
		while (waitpid(pg->watcher, NULL, 0) < 0 && errno == EINTR)
			;
		pg->watcher = 0;
	}
	if (pg->pid > 0) {
		r = pg_local_stop(pg->pid, PGSERVER_STOP_MS);
		while (waitpid(pg->pid, NULL, 0) < 0 && errno == EINTR)
			;
		pg->pid = 0;
	}
	return r;
}

int pgserver_pause(struct pgserver *pg)
{
	return server_stop(pg);
}

int pgserver_resume(struct pgserver *pg)
{
	struct pg_local l;
	int r = pg_local_init(&l, pg->dir, PG_LOCAL_FAST);
	if (r == 0)
		r = pg_local_start(&l, PGSERVER_START_MS);
	if (r == 0)
		pg->pid = l.pid;
	if (r == 0 && (r = start_watcher(pg)) < 0)
		snprintf(l.error, sizeof(l.error), "cannot fork: %s", strerror(-r));
	if (r < 0)
		snprintf(pg->error, sizeof(pg->error), "%s", l.error);
	return r;
}

void pgserver_stop(struct pgserver *pg)
{
	server_stop(pg);
	if (pg->dir[0] && !getenv("DITTO_KEEP"))
		remove_tree(pg->dir);
	pg->dir[0] = '\0';
}
