/* Several controllers on one store (store.h): their heartbeats, the
 * leader's lock and epoch, the fence of its once-only writes, releasing a
 * dead controller's records and claiming orphaned ones. */
#include "store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The wall clock of the database, in milliseconds: every controller
 * compares heartbeats on this one clock, never its own. */
#define NOW_SQLITE "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
#define NOW_PG "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)"
/* The leader's advisory lock ("dctr"); it fits an oid, so pg_locks shows
 * it as classid 0, objid LEADER_LOCK, objsubid 1. */
#define LEADER_LOCK "1684239474"
#define UNFINISHED "status IN ('queued','running')"

/* clang-format off */
const struct sq_query store_cluster_queries[Q_COUNT] = {
	[Q_CTL_HEARTBEAT] = {
		"INSERT INTO controllers (id, address, started_ms, last_seen_ms)"
		" VALUES (?1, ?2, ?3, " NOW_SQLITE ") ON CONFLICT (id) DO UPDATE SET"
		" address = excluded.address, started_ms = excluded.started_ms,"
		" last_seen_ms = excluded.last_seen_ms",
		"INSERT INTO controllers (id, address, started_ms, last_seen_ms)"
		" VALUES (?1, ?2, ?3, " NOW_PG ") ON CONFLICT (id) DO UPDATE SET"
		" address = excluded.address, started_ms = excluded.started_ms,"
		" last_seen_ms = excluded.last_seen_ms",
	},
	[Q_CTL_LIST] = {
		"SELECT id, address, started_ms, last_seen_ms, " NOW_SQLITE
		" FROM controllers ORDER BY id",
		"SELECT id, address, started_ms, last_seen_ms, " NOW_PG
		" FROM controllers ORDER BY id",
	},
	[Q_CTL_DELETE_DEAD] = {
		"DELETE FROM controllers WHERE id = ?1 AND last_seen_ms < " NOW_SQLITE " - ?2",
		"DELETE FROM controllers WHERE id = ?1 AND last_seen_ms < " NOW_PG " - ?2",
	},
	[Q_CTL_EXISTS] = { "SELECT 1 FROM controllers WHERE id = ?1" },
	[Q_CTL_UNLISTED] = {
		"SELECT DISTINCT controller FROM invocations WHERE " UNFINISHED
		" AND controller IS NOT NULL AND created_ms < ?1 AND NOT EXISTS"
		" (SELECT 1 FROM controllers WHERE controllers.id = invocations.controller)"
		" ORDER BY controller LIMIT 100",
	},
	[Q_CTL_FAIL] = {
		"UPDATE invocations SET status = 'error', error = ?2, finished_ms = ?3,"
		" controller = NULL WHERE controller = ?1 AND " UNFINISHED
		" AND (async = 0 OR (status = 'running' AND retries >= ?4))",
	},
	[Q_CTL_REQUEUE] = {
		"UPDATE invocations SET status = 'queued',"
		" retries = retries + CASE WHEN status = 'running' THEN 1 ELSE 0 END,"
		" started_ms = NULL, host = NULL, vm = NULL, cpu = NULL, controller = NULL"
		" WHERE controller = ?1 AND " UNFINISHED,
	},
	[Q_LEADER_GET] = { "SELECT epoch, controller FROM cluster_leader WHERE one = 1" },
	[Q_LEADER_CLAIM] = {
		"UPDATE cluster_leader SET epoch = epoch + 1, controller = ?1,"
		" since_ms = " NOW_SQLITE " WHERE one = 1 RETURNING epoch",
		"UPDATE cluster_leader SET epoch = epoch + 1, controller = ?1,"
		" since_ms = " NOW_PG " WHERE one = 1 RETURNING epoch",
	},
	/* FOR UPDATE holds a new leader's claim until the fenced write ends
	 * (SQLite's write lock does the same). */
	[Q_LEADER_FENCE] = {
		"SELECT epoch FROM cluster_leader WHERE one = 1 AND epoch = ?1",
		"SELECT epoch FROM cluster_leader WHERE one = 1 AND epoch = ?1 FOR UPDATE",
	},
	[Q_LEADER_TRY] = {
		"SELECT 1",
		"SELECT CASE WHEN pg_try_advisory_lock(" LEADER_LOCK ") THEN 1 ELSE 0 END",
	},
	[Q_LEADER_HELD] = {
		"SELECT 1",
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
		" AND pid = pg_backend_pid() AND classid = 0 AND objid = " LEADER_LOCK
		" AND objsubid = 1 AND granted",
	},
	[Q_LEADER_UNLOCK] = {
		"SELECT 1",
		"SELECT CASE WHEN pg_advisory_unlock(" LEADER_LOCK ") THEN 1 ELSE 0 END",
	},
	/* Ends the connection that holds the lock (not this one): the
	 * server then frees the lock as if its holder had died. */
	[Q_LEADER_DEPOSE] = {
		"SELECT 0",
		"SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
		" AND classid = 0 AND objid = " LEADER_LOCK " AND objsubid = 1 AND granted"
		" AND pid <> pg_backend_pid()",
	},
	[Q_ORPHAN_LIST] = {
		"SELECT id, tenant FROM invocations WHERE controller IS NULL"
		" AND status = 'queued' AND async <> 0 ORDER BY created_ms, id LIMIT ?1",
	},
	[Q_ORPHAN_CLAIM] = {
		"UPDATE invocations SET controller = ?2 WHERE id = ?1 AND controller IS NULL"
		" AND status = 'queued'",
	},
};
/* clang-format on */

bool store_is_shared(const struct store *s)
{
	return strcmp(sq_engine_name(s), "sqlite") != 0;
}

int store_set_controller(struct store *s, const char *id)
{
	if (!sq_tenant_name_is_valid(id))
		return -EINVAL;
	if (s->controller[0] && strcmp(s->controller, id) != 0)
		return -EALREADY;
	snprintf(s->controller, sizeof(s->controller), "%s", id);
	return 0;
}

int store_controller_heartbeat(struct store *s, const char *address, int64_t started_ms)
{
	if (!s->controller[0] || !address || !*address || strlen(address) >= STORE_ADDRESS_SIZE)
		return -EINVAL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_CTL_HEARTBEAT, "ttI", s->controller,
							 address, started_ms);
	if (!st)
		return -ENOMEM;
	return sq_step_done(st);
}

/* Fills a struct store_controller from a row of Q_CTL_LIST. */
static void read_controller(struct sq_stmt *st, void *ret)
{
	struct store_controller *c = ret;
	sq_col_text(st, 0, c->id, sizeof(c->id));
	sq_col_text(st, 1, c->address, sizeof(c->address));
	c->started_ms = sq_col_int64(st, 2);
	c->last_seen_ms = sq_col_int64(st, 3);
}

int store_controller_list(struct store *s, struct store_controller **ret_ctls, size_t *ret_n,
			  int64_t *ret_now_ms)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep(s, Q_CTL_LIST);
	if (!st)
		return -ENOMEM;
	struct store_controller *ctls = NULL;
	size_t n = 0, cap = 0;
	int64_t now = 0;
	int r;
	while ((r = sq_step(st)) == SQ_ROW) {
		if (array_reserve(&ctls, &cap, n + 1, sizeof(*ctls), 8) < 0) {
			free(ctls);
			return -ENOMEM;
		}
		read_controller(st, &ctls[n++]);
		now = sq_col_int64(st, 4);
	}
	if (r < 0) {
		free(ctls);
		return r;
	}
	*ret_ctls = ctls;
	*ret_n = n;
	*ret_now_ms = now;
	return 0;
}

/* Fills a struct store_controller's id from a row of Q_CTL_UNLISTED. */
static void read_unlisted(struct sq_stmt *st, void *ret)
{
	struct store_controller *c = ret;
	memset(c, 0, sizeof(*c));
	sq_col_text(st, 0, c->id, sizeof(c->id));
}

int store_controller_unlisted(struct store *s, int64_t before_ms, struct store_controller **ret,
			      size_t *ret_n)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_CTL_UNLISTED, "I", before_ms);
	return sq_collect_rows(st, sizeof(**ret), read_unlisted, ret, ret_n);
}

int store_leader_get(struct store *s, int64_t *ret_epoch, char ret_id[STORE_NAME_SIZE])
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep(s, Q_LEADER_GET);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r < 0)
		return r;
	*ret_epoch = sq_col_int64(st, 0);
	sq_col_text(st, 1, ret_id, STORE_NAME_SIZE);
	return 0;
}

/* Runs one of the lock's queries, which give one integer. */
static int lock_query(struct store *s, enum query q, int64_t *ret)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep(s, q);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r == 0)
		*ret = sq_col_int64(st, 0);
	return r;
}

int store_leader_lock_try(struct store *s, bool *ret_won)
{
	int64_t v = 0;
	int r = lock_query(s, Q_LEADER_TRY, &v);
	if (r == 0)
		*ret_won = v != 0;
	return r;
}

int store_leader_lock_held(struct store *s)
{
	int64_t v = 0;
	int r = lock_query(s, Q_LEADER_HELD, &v);
	return r < 0 ? r : v ? 0 : -ENOLCK;
}

int store_leader_lock_release(struct store *s)
{
	int64_t v = 0;
	return lock_query(s, Q_LEADER_UNLOCK, &v);
}

int store_leader_depose(struct store *s)
{
	int64_t v = 0;
	int r = lock_query(s, Q_LEADER_DEPOSE, &v);
	return r < 0 ? r : v ? 0 : -ENOENT;
}

int store_leader_claim(struct store *s, int64_t *ret_epoch)
{
	if (!s->controller[0])
		return -EINVAL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_LEADER_CLAIM, "t", s->controller);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r == 0)
		*ret_epoch = sq_col_int64(st, 0);
	return r;
}

void store_fence_set(struct store *s, int64_t epoch)
{
	s->fence_epoch = epoch;
}

int sq_fence(struct store *s)
{
	if (!s->fence_epoch)
		return 0;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_LEADER_FENCE, "I", s->fence_epoch);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	return r == -ENOENT ? -ESTALE : r;
}

/* Runs a statement of the release; adds the rows it changed to *count. */
static int release_step(struct sq_stmt *st, size_t *count)
{
	if (!st)
		return -ENOMEM;
	int r = sq_step_done(st);
	if (r == 0 && count)
		*count += (size_t)sq_changes(st);
	return r;
}

static int release_locked(struct store *s, const char *dead, int timeout_ms, const char *reason,
			  int max_retries, size_t *failed, size_t *queued)
{
	int r = sq_fence(s);
	if (r < 0)
		return r;
	{
		_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_CTL_DELETE_DEAD, "tI", dead,
								 (int64_t)timeout_ms);
		size_t gone = 0;
		if ((r = release_step(st, &gone)) < 0)
			return r;
		if (!gone) {
			/* Seen lately: alive. No row at all: released already,
			 * or never there; its records are released all the same. */
			_cleanup_stmt_ struct sq_stmt *ex = sq_prep_bind(s, Q_CTL_EXISTS, "t",
									 dead);
			if (!ex)
				return -ENOMEM;
			r = sq_step_row(ex);
			if (r != -ENOENT)
				return r == 0 ? -EAGAIN : r;
		}
	}
	{
		_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(
			s, Q_CTL_FAIL, "ttIi", dead, reason, time_wall_ms(), max_retries);
		if ((r = release_step(st, failed)) < 0)
			return r;
	}
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_CTL_REQUEUE, "t", dead);
	return release_step(st, queued);
}

int store_controller_release(struct store *s, const char *dead, int timeout_ms, const char *reason,
			     int max_retries, size_t *ret_failed, size_t *ret_queued)
{
	if (!sq_tenant_name_is_valid(dead) || !reason || timeout_ms < 0)
		return -EINVAL;
	size_t failed = 0, queued = 0;
	int r = sq_tx_begin(s);
	if (r < 0)
		return r;
	r = sq_tx_end(s,
		      release_locked(s, dead, timeout_ms, reason, max_retries, &failed, &queued));
	if (r < 0)
		return r;
	*ret_failed = failed;
	*ret_queued = queued;
	return 0;
}

static void read_orphan(struct sq_stmt *st, void *ret)
{
	struct store_orphan *o = ret;
	sq_col_text(st, 0, o->id, sizeof(o->id));
	sq_col_text(st, 1, o->tenant, sizeof(o->tenant));
}

int store_orphan_list(struct store *s, unsigned max, struct store_orphan **ret_orphans,
		      size_t *ret_n)
{
	if (max < 1 || max > STORE_LIST_MAX)
		return -EINVAL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_ORPHAN_LIST, "i", (int)max);
	return sq_collect_rows(st, sizeof(**ret_orphans), read_orphan, ret_orphans, ret_n);
}

int store_orphan_claim(struct store *s, const char *id)
{
	if (!s->controller[0])
		return -EINVAL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_ORPHAN_CLAIM, "tt", id,
							 s->controller);
	if (!st)
		return -ENOMEM;
	int r = sq_step_update(st);
	return r == -ENOENT ? -EALREADY : r;
}
