/* Several controllers on one store: heartbeats, the leader's lock and
 * epoch, fenced once-only writes, a dead controller's records released and
 * orphans claimed once. */
#include "store_fixture.h"

/* A second handle on f's database, writing for controller id. */
static struct store *open_as(struct fixture *f, const char *id)
{
	struct store *s;
	assert_int_equal(store_open(f->uri, &s), 0);
	assert_int_equal(store_set_controller(s, id), 0);
	return s;
}

/* The controller a record names ("" for none). */
static void record_controller(struct store *s, const char *id, char out[STORE_NAME_SIZE])
{
	struct sq_stmt *st;
	assert_int_equal(sq_prep_sql(s, "SELECT controller FROM invocations WHERE id = ?1", &st),
			 0);
	assert_int_equal(sq_bind_text(st, 1, id), 0);
	assert_int_equal(sq_step(st), SQ_ROW);
	sq_col_text(st, 0, out, STORE_NAME_SIZE);
	sq_stmt_free(st);
}

static void test_heartbeats(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_controller_heartbeat(s, "http://a", 5), -EINVAL);
	assert_int_equal(store_set_controller(s, "Bad_Id"), -EINVAL);
	assert_int_equal(store_set_controller(s, "ctl-a"), 0);
	assert_int_equal(store_set_controller(s, "ctl-a"), 0);
	assert_int_equal(store_set_controller(s, "ctl-b"), -EALREADY);
	assert_int_equal(store_controller_heartbeat(s, "", 5), -EINVAL);
	int64_t before = time_wall_ms();
	assert_int_equal(store_controller_heartbeat(s, "http://a:1", 5), 0);
	assert_int_equal(store_controller_heartbeat(s, "http://a:2", 6), 0);
	struct store_controller *list;
	size_t n;
	int64_t now;
	assert_int_equal(store_controller_list(s, &list, &n, &now), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "ctl-a");
	assert_string_equal(list[0].address, "http://a:2");
	assert_int_equal(list[0].started_ms, 6);
	/* The database's clock, on this machine the same as ours. */
	assert_true(list[0].last_seen_ms >= before - 1000);
	assert_true(now >= list[0].last_seen_ms);
	free(list);
}

/* On a shared store one handle holds the lock at a time; each claim is a
 * new epoch, and a fence set to an old one refuses the once-only writes. */
static void test_leader(void **state)
{
	struct fixture *f = *state;
	struct store *a = open_as(f, "ctl-a"), *b = open_as(f, "ctl-b");
	bool won = false;
	int64_t epoch = -1, e2 = -1;
	char who[STORE_NAME_SIZE];
	assert_int_equal(store_leader_get(a, &epoch, who), 0);
	assert_int_equal(epoch, 0);
	assert_string_equal(who, "");
	assert_int_equal(store_leader_lock_try(a, &won), 0);
	assert_true(won);
	assert_int_equal(store_leader_lock_held(a), 0);
	assert_int_equal(store_leader_claim(a, &epoch), 0);
	assert_int_equal(epoch, 1);
	store_fence_set(a, epoch);
	size_t deleted = 9;
	assert_int_equal(store_invocations_prune(a, 0, 0, &deleted), 0);
	if (store_is_shared(b)) {
		assert_int_equal(store_leader_lock_try(b, &won), 0);
		assert_false(won);
		assert_int_equal(store_leader_lock_release(a), 0);
		assert_int_equal(store_leader_lock_try(b, &won), 0);
		assert_true(won);
	}
	assert_int_equal(store_leader_claim(b, &e2), 0);
	assert_int_equal(e2, 2);
	assert_int_equal(store_leader_get(a, &epoch, who), 0);
	assert_int_equal(epoch, 2);
	assert_string_equal(who, "ctl-b");
	/* a's fence names epoch 1: its writes are refused now. */
	assert_int_equal(store_invocations_prune(a, 0, 0, &deleted), -ESTALE);
	size_t failed, queued;
	assert_int_equal(store_controller_release(a, "ctl-x", 0, "lost", 4, &failed, &queued),
			 -ESTALE);
	store_fence_set(b, e2);
	assert_int_equal(store_controller_release(b, "ctl-x", 0, "lost", 4, &failed, &queued), 0);
	store_close(a);
	store_close(b);
}

/* The lock goes with its connection: once the server ends it (deposed by
 * another handle), the handle says so (its next call connects again,
 * without the lock). */
static void test_leader_lock_lost(void **state)
{
	struct fixture *f = *state;
	if (!f->pg)
		return;
	struct store *a = open_as(f, "ctl-a");
	bool won = false;
	assert_int_equal(store_leader_lock_try(a, &won), 0);
	assert_true(won);
	/* Another handle ends the connection that holds it (a frozen
	 * leader's). */
	assert_int_equal(store_leader_depose(f->s), 0);
	int r = store_leader_lock_held(a);
	assert_true(r < 0);
	if (r == -ENOTCONN)
		r = store_leader_lock_held(a);
	assert_int_equal(r, -ENOLCK);
	/* Another handle may take it now. */
	struct store *b = open_as(f, "ctl-b");
	assert_int_equal(store_leader_lock_try(b, &won), 0);
	assert_true(won);
	/* Its own connection is never the one ended. */
	assert_int_equal(store_leader_depose(b), -ENOENT);
	assert_int_equal(store_leader_lock_held(b), 0);
	store_close(a);
	store_close(b);
}

struct dead_records {
	char sync_running[STORE_ID_SIZE], async_queued[STORE_ID_SIZE];
	char async_running[STORE_ID_SIZE], async_spent[STORE_ID_SIZE];
};

/* Records of controller "ctl-dead": sync running, async queued, async
 * running, async running with its retries spent (max 1). */
static void dead_records_make(struct store *d, struct dead_records *ids)
{
	tenant_with_fn(d, "t1", "f");
	assert_int_equal(store_invocation_new_id(ids->sync_running), 0);
	assert_int_equal(store_invocation_create_running(d, ids->sync_running, time_wall_ms(), "t1",
							 "f", 1, "h1", "t1"),
			 0);
	assert_int_equal(store_invocation_create(d, "t1", "f", 1, true, "x", 1, ids->async_queued),
			 0);
	assert_int_equal(store_invocation_create(d, "t1", "f", 1, true, "x", 1, ids->async_running),
			 0);
	assert_int_equal(store_invocation_start(d, ids->async_running, "h1", "t1", 1), 0);
	assert_int_equal(store_invocation_create(d, "t1", "f", 1, true, "x", 1, ids->async_spent),
			 0);
	assert_int_equal(store_invocation_start(d, ids->async_spent, "h1", "t1", 1), 0);
	assert_int_equal(store_invocation_requeue(d, ids->async_spent), 0);
	assert_int_equal(store_invocation_start(d, ids->async_spent, "h1", "t1", 1), 0);
	assert_int_equal(store_controller_heartbeat(d, "http://dead", 1), 0);
}

static void assert_status(struct store *s, const char *id, enum store_status status, int retries)
{
	struct store_invocation inv;
	assert_int_equal(store_invocation_get(s, NULL, id, &inv), 0);
	assert_int_equal(inv.status, status);
	assert_int_equal(inv.retries, retries);
	store_invocation_clear(&inv);
}

static void test_release_and_claim(void **state)
{
	struct fixture *f = *state;
	struct store *d = open_as(f, "ctl-dead"), *a = open_as(f, "ctl-a");
	struct dead_records ids;
	dead_records_make(d, &ids);
	char who[STORE_NAME_SIZE];
	record_controller(a, ids.async_queued, who);
	assert_string_equal(who, "ctl-dead");
	size_t failed = 0, queued = 0;
	/* Seen a moment ago: alive. */
	assert_int_equal(store_controller_release(a, "ctl-dead", 60000, "controller lost", 1,
						  &failed, &queued),
			 -EAGAIN);
	int r;
	while ((r = store_controller_release(a, "ctl-dead", 0, "controller lost", 1, &failed,
					     &queued)) == -EAGAIN)
		sched_yield();
	assert_int_equal(r, 0);
	assert_int_equal(failed, 2);
	assert_int_equal(queued, 2);
	assert_status(a, ids.sync_running, STORE_ERROR, 0);
	assert_status(a, ids.async_spent, STORE_ERROR, 1);
	assert_status(a, ids.async_queued, STORE_QUEUED, 0);
	assert_status(a, ids.async_running, STORE_QUEUED, 1);
	struct store_invocation inv;
	assert_int_equal(store_invocation_get(a, NULL, ids.sync_running, &inv), 0);
	assert_string_equal(inv.error, "controller lost");
	store_invocation_clear(&inv);
	struct store_controller *ctls;
	size_t n;
	int64_t now;
	assert_int_equal(store_controller_list(a, &ctls, &n, &now), 0);
	assert_int_equal(n, 0);
	free(ctls);

	struct store_orphan *orphans;
	assert_int_equal(store_orphan_list(a, 0, &orphans, &n), -EINVAL);
	assert_int_equal(store_orphan_list(a, 10, &orphans, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(orphans[0].tenant, "t1");
	char first[STORE_ID_SIZE];
	memcpy(first, orphans[0].id, sizeof(first));
	free(orphans);
	/* Claimed once: a second claim, by anyone, finds it taken. */
	assert_int_equal(store_orphan_claim(a, first), 0);
	assert_int_equal(store_orphan_claim(a, first), -EALREADY);
	assert_int_equal(store_orphan_claim(d, first), -EALREADY);
	record_controller(a, first, who);
	assert_string_equal(who, "ctl-a");
	assert_int_equal(store_orphan_list(a, 10, &orphans, &n), 0);
	assert_int_equal(n, 1);
	assert_string_not_equal(orphans[0].id, first);
	free(orphans);
	store_close(d);
	store_close(a);
}

/* Records naming a controller that has no row are found, once old
 * enough, and released as a dead one's. */
static void test_unlisted(void **state)
{
	struct fixture *f = *state;
	struct store *g = open_as(f, "ctl-gone"), *a = open_as(f, "ctl-a");
	tenant_with_fn(g, "t1", "f");
	char id[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(g, "t1", "f", 1, true, "x", 1, id), 0);
	assert_int_equal(store_controller_heartbeat(a, "http://a", 1), 0);
	struct store_controller *list;
	size_t n;
	assert_int_equal(store_controller_unlisted(a, 1, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
	assert_int_equal(store_controller_unlisted(a, time_wall_ms() + 1000, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "ctl-gone");
	free(list);
	size_t failed, queued;
	assert_int_equal(store_controller_release(a, "ctl-gone", 3000, "lost", 4, &failed, &queued),
			 0);
	assert_int_equal(queued, 1);
	assert_int_equal(store_controller_unlisted(a, time_wall_ms() + 1000, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
	store_close(g);
	store_close(a);
}

/* A restart settles its own records only where controllers share the
 * store; on SQLite, every record. New and started records name their
 * controller. */
static void test_recover_scope(void **state)
{
	struct fixture *f = *state;
	struct store *o = open_as(f, "ctl-other"), *a = open_as(f, "ctl-a");
	tenant_with_fn(o, "t1", "f");
	char theirs[STORE_ID_SIZE], mine[STORE_ID_SIZE], who[STORE_NAME_SIZE];
	assert_int_equal(store_invocation_create(o, "t1", "f", 1, false, NULL, 0, theirs), 0);
	assert_int_equal(store_invocation_create(a, "t1", "f", 1, false, NULL, 0, mine), 0);
	record_controller(a, mine, who);
	assert_string_equal(who, "ctl-a");
	size_t failed = 0, n_retry = 0;
	struct store_id *retry = NULL;
	assert_int_equal(store_invocations_recover(a, "restarted", 4, &failed, &retry, &n_retry),
			 0);
	free(retry);
	assert_status(a, mine, STORE_ERROR, 0);
	assert_status(a, theirs, store_is_shared(a) ? STORE_QUEUED : STORE_ERROR, 0);
	assert_int_equal(failed, store_is_shared(a) ? 1 : 2);
	store_close(o);
	store_close(a);
}

int main(void)
{
	const struct CMUnitTest both[] = {
		cmocka_unit_test(test_heartbeats),       cmocka_unit_test(test_leader),
		cmocka_unit_test(test_leader_lock_lost), cmocka_unit_test(test_release_and_claim),
		cmocka_unit_test(test_recover_scope),    cmocka_unit_test(test_unlisted),
	};
	return store_run(both, sizeof(both) / sizeof(both[0]), NULL, 0);
}
