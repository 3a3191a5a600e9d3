/* Hosts: registration, heartbeats and their down and draining flags. */
#include "store_int.h"

#include <errno.h>
#include <string.h>

#define HOST_COLS "id, address, cores, registered_ms, last_seen_ms, down, draining FROM hosts"

const struct sq_query store_host_queries[Q_COUNT] = {
	[Q_HOST_REGISTER] = { "INSERT INTO hosts (id, address, cores, registered_ms, last_seen_ms)"
			      " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (id) DO UPDATE SET"
			      " address = excluded.address, cores = excluded.cores,"
			      " last_seen_ms = excluded.last_seen_ms, down = 0" },
	[Q_HOST_HEARTBEAT] = { "UPDATE hosts SET last_seen_ms = ?2, down = 0 WHERE id = ?1" },
	[Q_HOST_DOWN] = { "UPDATE hosts SET down = ?2 WHERE id = ?1" },
	[Q_HOST_DRAINING] = { "UPDATE hosts SET draining = ?2 WHERE id = ?1" },
	[Q_HOST_GET] = { "SELECT " HOST_COLS " WHERE id = ?1" },
	[Q_HOST_LIST] = { "SELECT " HOST_COLS " ORDER BY id" },
	[Q_HOST_DELETE] = { "DELETE FROM hosts WHERE id = ?1" },
};

int store_host_register(struct store *s, const char *id, const char *address, int cores)
{
	if (!sq_object_name_is_valid(id) || !sq_printable(address, STORE_ADDRESS_SIZE) || cores < 1)
		return -EINVAL;
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_HOST_REGISTER, "ttiI", id, address,
							 cores, time_wall_ms());
	if (!st)
		return -ENOMEM;
	return sq_step_done(st);
}

/* Runs a one-row host update whose first parameter is the host id. */
static int host_update(struct store *s, enum query q, const char *id, int64_t value)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, q, "tI", id, value);
	if (!st)
		return -ENOMEM;
	return sq_step_update(st);
}

int store_host_heartbeat(struct store *s, const char *id)
{
	return host_update(s, Q_HOST_HEARTBEAT, id, time_wall_ms());
}

int store_host_set_down(struct store *s, const char *id, bool down)
{
	return host_update(s, Q_HOST_DOWN, id, down);
}

int store_host_set_draining(struct store *s, const char *id, bool draining)
{
	return host_update(s, Q_HOST_DRAINING, id, draining);
}

static void read_host(struct sq_stmt *st, void *item)
{
	struct store_host *h = item;
	memset(h, 0, sizeof(*h));
	sq_col_text(st, 0, h->id, sizeof(h->id));
	sq_col_text(st, 1, h->address, sizeof(h->address));
	h->cores = sq_col_int(st, 2);
	h->registered_ms = sq_col_int64(st, 3);
	h->last_seen_ms = sq_col_int64(st, 4);
	h->down = sq_col_int(st, 5);
	h->draining = sq_col_int(st, 6);
}

int store_host_delete(struct store *s, const char *id)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_HOST_DELETE, "t", id);
	if (!st)
		return -ENOMEM;
	return sq_step_update(st);
}

int store_host_get(struct store *s, const char *id, struct store_host *ret_host)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep_bind(s, Q_HOST_GET, "t", id);
	return sq_read_row(st, read_host, ret_host);
}

int store_host_list(struct store *s, struct store_host **ret_hosts, size_t *ret_n)
{
	_cleanup_stmt_ struct sq_stmt *st = sq_prep(s, Q_HOST_LIST);
	return sq_collect_rows(st, sizeof(**ret_hosts), read_host, ret_hosts, ret_n);
}
