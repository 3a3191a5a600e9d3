/* A real, private PostgreSQL server for tests: its cluster, socket and log in a new folder
 * under /tmp, no TCP, a fresh database per test. A watcher process stops the server and
 * removes the folder when the test process dies without pgserver_stop (a crash, a failed
 * assertion that exits, a Ctrl-C). */
#ifndef DITTO_TESTS_PGSERVER_H
#define DITTO_TESTS_PGSERVER_H

#include <stddef.h>
#include <sys/types.h>

struct pgserver {
	char dir[256];      /* the folder */
	char conninfo[512]; /* of the database "ditto" */
	pid_t pid;          /* the postmaster, a child of this process */
	pid_t watcher;      /* stops it if this process dies first */
	char error[256];    /* why pgserver_start failed, one line (for "skipped: ...") */
};

/* Starts a private PostgreSQL server (initdb + postgres) in a new temporary folder as a
 * non-root user (the postgres user when run as root), listening only on a Unix socket in
 * that folder, with database "ditto", tuned for speed over durability. Returns 0, or
 * -ENOENT when PostgreSQL's server binaries are not installed (callers skip with a clear
 * message: ret->error), or -errno (the folder is gone again). */
int pgserver_start(struct pgserver *ret);

/* Creates a fresh empty database and writes its conninfo ("host=DIR port=N dbname=NAME").
 * Returns 0 or -errno (-EIO: the server refused; -ENAMETOOLONG). */
int pgserver_new_db(struct pgserver *pg, char *conninfo, size_t size);

/* Stops the server (fast shutdown) and keeps its folder, for pgserver_resume: what a
 * server that goes away under its clients looks like. Until it resumes, nothing stops it
 * should the test die (it is stopped already) and the folder stays. Returns 0 or -errno. */
int pgserver_pause(struct pgserver *pg);

/* Starts a paused server again, with what it held. Returns 0 or -errno (pg->error says
 * why). */
int pgserver_resume(struct pgserver *pg);

/* Stops the server (fast shutdown) and removes its folder. A zeroed or stopped pg is
 * fine. */
void pgserver_stop(struct pgserver *pg);

#endif
