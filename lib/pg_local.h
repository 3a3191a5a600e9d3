/* A private PostgreSQL server in a folder of its own, for `ditto up --store postgres`, the
 * benchmarks and the tests: the cluster in DIR/data (initdb on first use, with a database
 * "ditto"), the Unix socket in DIR and no TCP at all, the server's log in DIR/postgres.log.
 * Run as root, the server runs as the `postgres` user (Debian's package makes it) and DIR is
 * handed to it. The server binaries are found with `pg_config --bindir`, else under
 * /usr/lib/postgresql/VERSION/bin. libc only: nothing here speaks PostgreSQL's protocol. */
#ifndef DITTO_PG_LOCAL_H
#define DITTO_PG_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The port names the socket file (DIR/.s.PGSQL.5432); nothing listens on TCP. */
#define PG_LOCAL_PORT 5432

/* Flags of pg_local_init. */
enum {
	/* For throw-away clusters (tests, benchmarks): no fsync, no synchronous commit, no
	 * full-page writes and small shared buffers. A crash of the machine may lose or
	 * corrupt the cluster. */
	PG_LOCAL_FAST = 1 << 0,
	/* The server gets a session of its own and outlives its starter (ditto up); without
	 * it, a Ctrl-C in the starter's terminal reaches the server too. */
	PG_LOCAL_DETACH = 1 << 1,
};

struct pg_local {
	char dir[256]; /* the folder: data/, the socket, postgres.log */
	char bin[256]; /* the folder of initdb and postgres */
	char user[64]; /* the database's superuser: the name of this process's user */
	uid_t uid;     /* whom the server runs as */
	gid_t gid;
	unsigned flags;  /* PG_LOCAL_* */
	pid_t pid;       /* the postmaster once started, a child of this process */
	char error[256]; /* why the last call failed, one line */
};

/* Finds the folder of PostgreSQL's server binaries (initdb and postgres). Returns 0 with it
 * in out, or -ENOENT when they are not installed, -ENAMETOOLONG. */
int pg_local_bindir(char *out, size_t size);

/* Prepares a cluster in dir (made when missing, mode 0700, owned by whom the server runs
 * as): finds the binaries and the user, and on first use runs initdb (trust authentication
 * on the socket, superuser named after this process's user, UTF-8, locale C) and creates
 * the database "ditto". Returns 0, or -errno with pg->error set: -ENOENT when the server
 * binaries (or, as root, the postgres user) are missing, -ENAMETOOLONG when DIR's socket
 * path would be too long, -EIO when initdb or the database's creation failed (their output
 * is in DIR/postgres.log). */
int pg_local_init(struct pg_local *pg, const char *dir, unsigned flags);

/* Starts the server of a cluster pg_local_init prepared, as a child of this process, and
 * waits until it accepts connections (its postmaster.pid says "ready"), polling until
 * timeout_ms. Returns 0 with pg->pid set, or -errno with pg->error set: -ECHILD when it
 * exited first (reaped; the reason is in DIR/postgres.log), -ETIMEDOUT (it is killed). */
int pg_local_start(struct pg_local *pg, long timeout_ms);

/* Writes the conninfo of database dbname on the server of folder dir:
 * "host=DIR port=5432 dbname=NAME", values quoted where libpq needs it. Returns 0 or
 * -ENAMETOOLONG. */
int pg_local_conninfo(const char *dir, const char *dbname, char *out, size_t size);

/* The postmaster's pid as DIR/data/postmaster.pid names it, or 0 when there is none. The
 * pid may be stale: check the process before signalling it. */
pid_t pg_local_pid(const char *dir);

/* Stops a server: a fast shutdown (SIGINT: clients are disconnected, the cluster is left
 * consistent), after timeout_ms an immediate one (SIGQUIT), then SIGKILL. It need not be a
 * child of this process; a child must still be reaped. Returns 0 once it is gone (or was),
 * -ETIMEDOUT when even SIGKILL did not end it, -errno. */
int pg_local_stop(pid_t pid, long timeout_ms);

#endif
