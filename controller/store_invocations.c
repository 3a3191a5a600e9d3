/* Invocation records: their life cycle, paged listing, retention, and
 * recovery after a restart. */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define INV_COLS(payloads)                                                                      \
	"id, tenant, function, version, async, status, retries, created_ms, started_ms,"        \
	" finished_ms, host, vm, cpu, queued_us, cold_start_us, exec_us, total_us, cold_start," \
	" error, " payloads ", workers, vcpu_alloc_ms, vcpu_busy_ms, exception"
#define INV_PAYLOADS "input, result, log"
#define INV_NO_PAYLOADS "NULL, NULL, NULL"
#define UNFINISHED "status IN ('queued','running')"

/* Each query is one struct, its text indented under it (clang-format would
 * align it after the brace, past the line's end). */
/* clang-format off */
const struct sq_query store_invocation_queries[Q_COUNT] = {
	[Q_INV_INSERT] = {
		"INSERT INTO invocations (id, tenant, function, version, async, status,"
		" created_ms, input, started_ms, host, vm, controller) VALUES (?1, ?2, ?3, ?4, ?5,"
		" CASE WHEN CAST(?8 AS TEXT) IS NULL THEN 'queued' ELSE 'running' END, ?6, ?7,"
		" CASE WHEN CAST(?8 AS TEXT) IS NULL THEN NULL ELSE CAST(?6 AS BIGINT) END,"
		" ?8, ?9, ?10)",
	},
	[Q_INV_START] = {
		"UPDATE invocations SET status = 'running', started_ms = ?2, host = ?3, vm = ?4,"
		" cpu = ?5, controller = coalesce(?6, controller) WHERE id = ?1 AND status = 'queued'",
	},
	[Q_INV_FINISH] = {
		"UPDATE invocations SET status = ?2, finished_ms = ?3, result = ?4, log = ?5,"
		" error = ?6, queued_us = ?7, cold_start_us = ?8, exec_us = ?9, total_us = ?10,"
		" cold_start = ?11, cpu = coalesce(?12, cpu), workers = ?13, vcpu_alloc_ms = ?14,"
		" vcpu_busy_ms = ?15, exception = ?16 WHERE id = ?1 AND " UNFINISHED
		" AND (CAST(?17 AS BIGINT) IS NULL OR retries = ?17)",
	},
	[Q_INV_STATUS] = { "SELECT status FROM invocations WHERE id = ?1" },
	[Q_INV_GET] = {
		"SELECT " INV_COLS(INV_PAYLOADS) " FROM invocations"
		" WHERE id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR tenant = ?2)",
	},
	/* Keyset paging: the cursor is the (created_ms, id) of the last row
	 * shown, so pages neither skip nor repeat rows as records arrive. */
	[Q_INV_LIST] = {
		"SELECT " INV_COLS(INV_NO_PAYLOADS) " FROM invocations"
		" WHERE tenant = ?1 AND (CAST(?2 AS TEXT) IS NULL OR function = ?2)"
		" AND (CAST(?3 AS TEXT) IS NULL OR status = ?3) AND (created_ms, id) < (?4, ?5)"
		" ORDER BY created_ms DESC, id DESC LIMIT ?6",
	},
	[Q_INV_PRUNE_AGE] = {
		"DELETE FROM invocations WHERE finished_ms IS NOT NULL AND finished_ms < ?1",
	},
	[Q_INV_PRUNE_COUNT] = {
		"DELETE FROM invocations WHERE id IN (SELECT id FROM (SELECT id,"
		" row_number() OVER (PARTITION BY tenant ORDER BY created_ms DESC, id DESC) AS n"
		" FROM invocations WHERE finished_ms IS NOT NULL) AS ranked WHERE n > ?1)",
	},
	[Q_INV_FAIL_UNFINISHED] = {
		"UPDATE invocations SET status = 'error', error = ?1, finished_ms = ?2"
		" WHERE " UNFINISHED " AND (async = 0 OR (status = 'running' AND retries >= ?3))"
		" AND (CAST(?4 AS TEXT) IS NULL OR controller = ?4)",
	},
	[Q_INV_REQUEUE] = {
		"UPDATE invocations SET status = 'queued',"
		" retries = retries + CASE WHEN status = 'running' THEN 1 ELSE 0 END,"
		" started_ms = NULL, host = NULL, vm = NULL, cpu = NULL, controller = ?2"
		" WHERE " UNFINISHED " AND (CAST(?1 AS TEXT) IS NULL OR controller = ?1) RETURNING id",
	},
	[Q_INV_REQUEUE_ONE] = {
		"UPDATE invocations SET status = 'queued', retries = retries + 1,"
		" started_ms = NULL, host = NULL, vm = NULL, cpu = NULL"
		" WHERE id = ?1 AND async <> 0 AND " UNFINISHED,
	},
};
/* clang-format on */

static const char *const status_names[] = {
	[STORE_QUEUED] = "queued", [STORE_RUNNING] = "running", [STORE_OK] = "ok",
	[STORE_ERROR] = "error",   [STORE_TIMEOUT] = "timeout",
};

const char *store_status_name(enum store_status status)
{
	if ((unsigned)status >= sizeof(status_names) / sizeof(status_names[0]))
		return NULL;
	return status_names[status];
}

int store_status_parse(const char *name, enum store_status *ret_status)
{
	for (size_t i = 0; name && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(name, status_names[i])) {
			*ret_status = (enum store_status)i;
			return 0;
		}
	return -EINVAL;
}

static int col_blob(struct sq_stmt *st, int i, uint8_t **ret, size_t *ret_len)
{
	size_t n = (size_t)sq_col_bytes(st, i);
	const void *p = sq_col_blob(st, i);
	*ret = NULL;
	*ret_len = 0;
	if (!n)
		return 0;
	if (!p || !(*ret = malloc(n)))
		return -ENOMEM;
	memcpy(*ret, p, n);
	*ret_len = n;
	return 0;
}

/* Inserts a record under id at created_ms (wall clock), queued, or running
 * on host/vm when host is not NULL. */
static int invocation_insert(struct store *s, const char *id, int64_t created_ms,
			     const char *tenant, const char *function, int64_t version, bool async,
			     const void *input, size_t input_len, const char *host, const char *vm)
{
	if (!sq_tenant_name_is_valid(tenant) || !sq_object_name_is_valid(function) || version < 1 ||
	    input_len > INT32_MAX || strlen(id) != STORE_ID_SIZE - 1 ||
	    !store_is_lower_hex(id, STORE_ID_SIZE - 1))
		return -EINVAL;
	/* An empty input is stored as NULL so that it reads back as NULL. */
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(
		s, Q_INV_INSERT, "tttIiIbttt", id, tenant, function, version, (int)async, created_ms,
		input, input_len, host, vm, s->controller[0] ? s->controller : NULL);
	if (!st)
		return -ENOMEM;
	return sq_step_done(st);
}

int store_invocation_new_id(char ret_id[STORE_ID_SIZE])
{
	return sq_random_hex(16, ret_id);
}

int store_invocation_create_as(struct store *s, const char *id, const char *tenant,
			       const char *function, int64_t version, bool async, const void *input,
			       size_t input_len)
{
	return invocation_insert(s, id, time_wall_ms(), tenant, function, version, async, input,
				 input_len, NULL, NULL);
}

int store_invocation_create(struct store *s, const char *tenant, const char *function,
			    int64_t version, bool async, const void *input, size_t input_len,
			    char ret_id[STORE_ID_SIZE])
{
	char id[STORE_ID_SIZE];
	int r = store_invocation_new_id(id);
	if (r == 0)
		r = store_invocation_create_as(s, id, tenant, function, version, async, input,
					       input_len);
	if (r == 0)
		memcpy(ret_id, id, STORE_ID_SIZE);
	return r;
}

int store_invocation_create_running(struct store *s, const char *id, int64_t created_ms,
				    const char *tenant, const char *function, int64_t version,
				    const char *host, const char *vm)
{
	if (!host || !vm || created_ms <= 0)
		return -EINVAL;
	return invocation_insert(s, id, created_ms, tenant, function, version, false, NULL, 0, host,
				 vm);
}

/* Tells -ENOENT from -EALREADY after a guarded update changed no row. */
static int unchanged_reason(struct store *s, const char *id)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_INV_STATUS, "t", id);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	return r == 0 ? -EALREADY : r;
}

/* Steps st, a guarded update of invocation id's row. Returns 0 when it
 * changed the row, else -ENOENT or -EALREADY (unchanged_reason), or -errno. */
static int update_one(struct store *s, struct sq_stmt *st, const char *id)
{
	int r = sq_step_update(st);
	/* Done with it before the next statement looks at the row. */
	sq_reset(st);
	return r == -ENOENT ? unchanged_reason(s, id) : r;
}

int store_invocation_start(struct store *s, const char *id, const char *host, const char *vm,
			   int cpu)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_INV_START, "tIttit", id,
							 time_wall_ms(), host, vm, cpu,
							 s->controller[0] ? s->controller : NULL);
	if (!st)
		return -ENOMEM;
	return update_one(s, st, id);
}

int store_invocation_finish(struct store *s, const char *id, const struct store_outcome *o)
{
	if (o->status != STORE_OK && o->status != STORE_ERROR && o->status != STORE_TIMEOUT)
		return -EINVAL;
	if (o->result_len > INT32_MAX || o->log_len > INT32_MAX)
		return -EINVAL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(
		s, Q_INV_FINISH, "ttIbbtIIIIi", id, store_status_name(o->status), time_wall_ms(),
		o->result, o->result_len, o->log, o->log_len, o->error, o->queued_us,
		o->cold_start_us, o->exec_us, o->total_us, (int)o->cold_start);
	if (!st)
		return -ENOMEM;
	/* The CPU stays NULL when the agent did not name one. */
	if (o->cpu > 0)
		sq_bind_int64(st, 12, o->cpu);
	/* And the VM's accounting NULL when the agent said nothing of it. */
	if (o->has_vcpu) {
		sq_bind_int64(st, 13, o->workers);
		sq_bind_int64(st, 14, o->vcpu_alloc_ms);
		sq_bind_int64(st, 15, o->vcpu_busy_ms);
	}
	if (o->exception && sq_bind_text(st, 16, o->exception) < 0)
		return -ENOMEM;
	if (o->fenced)
		sq_bind_int64(st, 17, o->retries);
	return update_one(s, st, id);
}

int store_invocation_requeue(struct store *s, const char *id)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_INV_REQUEUE_ONE, "t", id);
	if (!st)
		return -ENOMEM;
	return update_one(s, st, id);
}

void store_invocation_clear(struct store_invocation *inv)
{
	if (!inv)
		return;
	free(inv->input);
	free(inv->result);
	free(inv->log);
	free(inv->error);
	free(inv->exception);
	memset(inv, 0, sizeof(*inv));
}

/* Fills inv from a row of INV_COLS. Returns 0 or -ENOMEM (inv then holds
 * nothing to free). */
static int read_invocation(struct sq_stmt *st, struct store_invocation *inv)
{
	memset(inv, 0, sizeof(*inv));
	sq_col_text(st, 0, inv->id, sizeof(inv->id));
	sq_col_text(st, 1, inv->tenant, sizeof(inv->tenant));
	sq_col_text(st, 2, inv->function, sizeof(inv->function));
	inv->version = sq_col_int64(st, 3);
	inv->async = sq_col_int(st, 4);
	store_status_parse(sq_col_str(st, 5), &inv->status);
	inv->retries = sq_col_int(st, 6);
	inv->created_ms = sq_col_int64(st, 7);
	inv->started_ms = sq_col_int64(st, 8);
	inv->finished_ms = sq_col_int64(st, 9);
	sq_col_text(st, 10, inv->host, sizeof(inv->host));
	sq_col_text(st, 11, inv->vm, sizeof(inv->vm));
	inv->cpu = sq_col_is_null(st, 12) ? -1 : sq_col_int(st, 12);
	inv->queued_us = sq_col_int64(st, 13);
	inv->cold_start_us = sq_col_int64(st, 14);
	inv->exec_us = sq_col_int64(st, 15);
	inv->total_us = sq_col_int64(st, 16);
	inv->cold_start = sq_col_int(st, 17);
	const char *err = sq_col_str(st, 18);
	const char *exc = sq_col_str(st, 25);
	if ((err && !(inv->error = strdup((const char *)err))) ||
	    (exc && !(inv->exception = strdup((const char *)exc))))
		goto nomem;
	inv->workers = sq_col_is_null(st, 22) ? -1 : sq_col_int(st, 22);
	inv->vcpu_alloc_ms = sq_col_is_null(st, 23) ? -1 : sq_col_int64(st, 23);
	inv->vcpu_busy_ms = sq_col_is_null(st, 24) ? -1 : sq_col_int64(st, 24);
	if (col_blob(st, 19, &inv->input, &inv->input_len) < 0 ||
	    col_blob(st, 20, &inv->result, &inv->result_len) < 0 ||
	    col_blob(st, 21, &inv->log, &inv->log_len) < 0)
		goto nomem;
	return 0;
nomem:
	store_invocation_clear(inv);
	return -ENOMEM;
}

int store_invocation_get(struct store *s, const char *tenant, const char *id,
			 struct store_invocation *ret_inv)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_INV_GET, "tt", id, tenant);
	if (!st)
		return -ENOMEM;
	int r = sq_step_row(st);
	if (r < 0)
		return r;
	return read_invocation(st, ret_inv);
}

void store_invocations_free(struct store_invocation *invs, size_t n)
{
	for (size_t i = 0; invs && i < n; i++)
		store_invocation_clear(&invs[i]);
	free(invs);
}

/* A cursor is "<created_ms>.<id>" of the last row of a page. Clients treat
 * it as opaque; it is checked strictly because it comes from them. */
static int cursor_parse(const char *cursor, int64_t *ret_ms, char ret_id[STORE_ID_SIZE])
{
	const char *dot = strchr(cursor, '.');
	char digits[24];
	int64_t ms;
	if (!dot || (size_t)(dot - cursor) >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, cursor, (size_t)(dot - cursor));
	digits[dot - cursor] = '\0';
	if (parse_i64(digits, 0, INT64_MAX, &ms) < 0 ||
	    !store_is_lower_hex(dot + 1, STORE_ID_SIZE - 1))
		return -EINVAL;
	*ret_ms = ms;
	memcpy(ret_id, dot + 1, STORE_ID_SIZE);
	return 0;
}

int store_invocation_list(struct store *s, const char *tenant, const struct store_filter *filter,
			  const char *cursor, unsigned limit, struct store_invocation **ret_invs,
			  size_t *ret_n, char ret_next[STORE_CURSOR_SIZE])
{
	if (limit < 1 || limit > STORE_LIST_MAX)
		return -EINVAL;
	const char *status = NULL;
	if (filter && filter->has_status && !(status = store_status_name(filter->status)))
		return -EINVAL;
	/* No cursor starts above every row: the largest time, and an id that
	 * sorts after every hex id. */
	int64_t after_ms = INT64_MAX;
	char after_id[STORE_ID_SIZE] = "g";
	if (cursor && *cursor && cursor_parse(cursor, &after_ms, after_id) < 0)
		return -EINVAL;

	/* One row more than asked tells whether another page exists. */
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_INV_LIST, "tttIti", tenant,
							 filter ? filter->function : NULL, status,
							 after_ms, after_id, (int)limit + 1);
	if (!st)
		return -ENOMEM;

	struct store_invocation *invs = calloc(limit, sizeof(*invs));
	if (!invs)
		return -ENOMEM;
	size_t n = 0;
	bool more = false;
	int r;
	while ((r = sq_step(st)) == SQ_ROW) {
		if (n == limit) {
			more = true;
			break;
		}
		if (read_invocation(st, &invs[n]) < 0) {
			store_invocations_free(invs, n);
			return -ENOMEM;
		}
		n++;
	}
	if (r < 0) {
		store_invocations_free(invs, n);
		return r;
	}
	ret_next[0] = '\0';
	if (more)
		snprintf(ret_next, STORE_CURSOR_SIZE, "%" PRId64 ".%s", invs[n - 1].created_ms,
			 invs[n - 1].id);
	*ret_invs = invs;
	*ret_n = n;
	return 0;
}

static int prune_locked(struct store *s, int64_t finished_before_ms, unsigned keep_newest,
			size_t *deleted)
{
	_cleanup_stmt_ struct sq_stmt *age = sq_prep_bind(s, Q_INV_PRUNE_AGE, "I",
							  finished_before_ms);
	if (!age)
		return -ENOMEM;
	int r = sq_step_done(age);
	if (r < 0)
		return r;
	*deleted += (size_t)sq_changes(age);
	if (!keep_newest)
		return 0;
	_cleanup_stmt_ struct sq_stmt *count = sq_prep_bind(s, Q_INV_PRUNE_COUNT, "I",
							    (int64_t)keep_newest);
	if (!count)
		return -ENOMEM;
	r = sq_step_done(count);
	if (r < 0)
		return r;
	*deleted += (size_t)sq_changes(count);
	return 0;
}

int store_invocations_prune(struct store *s, int64_t finished_before_ms, unsigned keep_newest,
			    size_t *ret_deleted)
{
	size_t deleted = 0;
	int r = sq_tx_begin(s);
	if (r < 0)
		return r;
	r = sq_fence(s);
	if (r == 0)
		r = prune_locked(s, finished_before_ms, keep_newest, &deleted);
	r = sq_tx_end(s, r);
	if (r < 0)
		return r;
	if (ret_deleted)
		*ret_deleted = deleted;
	return 0;
}

/* Whose records a restart settles: on a store several controllers share,
 * the handle's controller's only (another's are its own, or the leader's
 * to release); on SQLite, which serves one controller, every record, under
 * whatever id an earlier run had. */
static const char *recover_scope(const struct store *s)
{
	return store_is_shared(s) && s->controller[0] ? s->controller : NULL;
}

static int recover_locked(struct store *s, const char *reason, int max_retries, size_t *failed,
			  struct store_id **retry, size_t *n_retry)
{
	{
		_cleanup_stmt_ struct sq_stmt *st =
			sq_prep_bind(s, Q_INV_FAIL_UNFINISHED, "tIit", reason, time_wall_ms(),
				     max_retries, recover_scope(s));
		if (!st)
			return -ENOMEM;
		int r = sq_step_done(st);
		if (r < 0)
			return r;
		*failed = (size_t)sq_changes(st);
	}
	/* What is left unfinished is async with an attempt to spare. */
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_INV_REQUEUE, "tt", recover_scope(s),
							 s->controller[0] ? s->controller : NULL);
	if (!st)
		return -ENOMEM;
	size_t cap = 0;
	int r;
	while ((r = sq_step(st)) == SQ_ROW) {
		if (array_reserve(retry, &cap, *n_retry + 1, sizeof(**retry), 16) < 0)
			return -ENOMEM;
		sq_col_text(st, 0, (*retry)[*n_retry].id, STORE_ID_SIZE);
		(*n_retry)++;
	}
	return r < 0 ? r : 0;
}

int store_invocations_recover(struct store *s, const char *reason, int max_retries,
			      size_t *ret_failed, struct store_id **ret_retry, size_t *ret_n_retry)
{
	size_t failed = 0, n_retry = 0;
	struct store_id *retry = NULL;
	int r = sq_tx_begin(s);
	if (r < 0)
		return r;
	r = sq_tx_end(s, recover_locked(s, reason, max_retries, &failed, &retry, &n_retry));
	if (r < 0) {
		free(retry);
		return r;
	}
	*ret_failed = failed;
	*ret_retry = retry;
	*ret_n_retry = n_retry;
	return 0;
}
