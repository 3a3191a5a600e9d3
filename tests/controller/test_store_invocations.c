/* Invocation records: their life cycle, requeues, paged listing,
 * retention and recovery after a restart. */
#include "store_fixture.h"

static void test_invocation_lifecycle(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	tenant_with_fn(s, "acme", "hello");
	assert_int_equal(store_tenant_create(s, "beta"), 0);
	char id[STORE_ID_SIZE], id2[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "hello", 2, false, NULL, 0, id),
			 -ENOENT);
	assert_int_equal(store_invocation_create(s, "beta", "hello", 1, false, NULL, 0, id),
			 -ENOENT);
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, true, "\0in", 3, id), 0);
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, true, NULL, 0, id2), 0);
	assert_string_not_equal(id, id2);
	assert_int_equal(strlen(id), STORE_ID_SIZE - 1);

	struct store_invocation inv;
	assert_int_equal(store_invocation_get(s, "acme", id, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_true(inv.async);
	assert_int_equal(inv.cpu, -1);
	assert_int_equal(inv.started_ms, 0);
	assert_int_equal(inv.input_len, 3);
	assert_memory_equal(inv.input, "\0in", 3);
	assert_null(inv.result);
	store_invocation_clear(&inv);

	assert_int_equal(store_invocation_start(s, id, "h1", "vm-acme", 3), 0);
	assert_int_equal(store_invocation_start(s, id, "h1", "vm-acme", 3), -EALREADY);
	assert_int_equal(store_invocation_start(s, "00", "h1", "vm-acme", 3), -ENOENT);
	assert_int_equal(store_invocation_get(s, "acme", id, &inv), 0);
	assert_int_equal(inv.status, STORE_RUNNING);
	assert_string_equal(inv.host, "h1");
	assert_string_equal(inv.vm, "vm-acme");
	assert_int_equal(inv.cpu, 3);
	assert_true(inv.started_ms >= inv.created_ms);
	store_invocation_clear(&inv);

	const uint8_t result[] = { '{', '}', 0, 0xff };
	struct store_outcome o = {
		.status = STORE_ERROR,
		.result = result,
		.result_len = sizeof(result),
		.log = "oops\n",
		.log_len = 5,
		.error = "exit status 3",
		.queued_us = 10,
		.cold_start_us = 20,
		.exec_us = 30,
		.total_us = 60,
		.cold_start = true,
	};
	struct store_outcome bad = { .status = STORE_RUNNING };
	assert_int_equal(store_invocation_finish(s, id, &bad), -EINVAL);
	assert_int_equal(store_invocation_finish(s, id, &o), 0);
	assert_int_equal(store_invocation_finish(s, id, &o), -EALREADY);
	assert_int_equal(store_invocation_finish(s, "00", &o), -ENOENT);

	/* Another tenant cannot read it; the controller (NULL) can. */
	assert_int_equal(store_invocation_get(s, "beta", id, &inv), -ENOENT);
	assert_int_equal(store_invocation_get(s, NULL, id, &inv), 0);
	assert_int_equal(inv.status, STORE_ERROR);
	assert_string_equal(inv.tenant, "acme");
	assert_string_equal(inv.function, "hello");
	assert_int_equal(inv.version, 1);
	assert_int_equal(inv.result_len, sizeof(result));
	assert_memory_equal(inv.result, result, sizeof(result));
	assert_int_equal(inv.log_len, 5);
	assert_memory_equal(inv.log, "oops\n", 5);
	assert_string_equal(inv.error, "exit status 3");
	assert_int_equal(inv.queued_us, 10);
	assert_int_equal(inv.cold_start_us, 20);
	assert_int_equal(inv.exec_us, 30);
	assert_int_equal(inv.total_us, 60);
	assert_true(inv.cold_start);
	assert_true(inv.finished_ms >= inv.started_ms);
	store_invocation_clear(&inv);

	/* A queued invocation can finish directly (e.g. rejected before it ran). */
	finish(s, id2, STORE_TIMEOUT);
	assert_int_equal(store_invocation_get(s, "acme", id2, &inv), 0);
	assert_int_equal(inv.status, STORE_TIMEOUT);
	store_invocation_clear(&inv);

	enum store_status st;
	assert_int_equal(store_status_parse("timeout", &st), 0);
	assert_int_equal(st, STORE_TIMEOUT);
	assert_int_equal(store_status_parse("done", &st), -EINVAL);
	assert_string_equal(store_status_name(STORE_RUNNING), "running");
}

/* An id the caller chose: taken once, and only in the drawn form. */
static void test_chosen_id(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	tenant_with_fn(s, "acme", "hello");
	char id[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, false, NULL, 0, id), 0);
	static const char chosen[] = "0123456789abcdef0123456789abcdef";
	assert_int_equal(store_invocation_create_as(s, chosen, "acme", "hello", 1, false, NULL, 0),
			 0);
	assert_int_equal(store_invocation_create_as(s, chosen, "acme", "hello", 1, true, NULL, 0),
			 -EEXIST);
	assert_int_equal(store_invocation_create_as(s, id, "acme", "hello", 1, false, NULL, 0),
			 -EEXIST);
	assert_int_equal(store_invocation_create_as(s, "0123456789ABCDEF0123456789abcdef", "acme",
						    "hello", 1, false, NULL, 0),
			 -EINVAL);
	assert_int_equal(store_invocation_create_as(s, "0123", "acme", "hello", 1, false, NULL, 0),
			 -EINVAL);
	struct store_invocation chosen_inv;
	assert_int_equal(store_invocation_get(s, "acme", chosen, &chosen_inv), 0);
	assert_int_equal(chosen_inv.status, STORE_QUEUED);
	store_invocation_clear(&chosen_inv);
}

#define N_LIST 25

/* An async invocation whose host was lost goes back to the queue once per
 * requeue; finishing records the vCPU it ran on. */
static void test_requeue_and_cpu(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	tenant_with_fn(s, "acme", "hello");
	char a[STORE_ID_SIZE], b[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, true, "{}", 2, a), 0);
	assert_int_equal(store_invocation_create(s, "acme", "hello", 1, false, "{}", 2, b), 0);
	assert_int_equal(store_invocation_start(s, a, "h1", "acme", -1), 0);
	assert_int_equal(store_invocation_requeue(s, a), 0);
	struct store_invocation inv;
	assert_int_equal(store_invocation_get(s, "acme", a, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_int_equal(inv.retries, 1);
	assert_string_equal(inv.host, "");
	store_invocation_clear(&inv);
	/* A sync invocation that starts at once is one write, without input. */
	char c[STORE_ID_SIZE];
	assert_int_equal(store_invocation_new_id(c), 0);
	assert_int_equal(store_invocation_create_running(s, c, 1700000000000, "acme", "hello", 1,
							 "h3", "acme"),
			 0);
	assert_int_equal(store_invocation_create_running(s, c, 1700000000000, "acme", "hello", 1,
							 "h3", "acme"),
			 -EEXIST);
	assert_int_equal(store_invocation_get(s, "acme", c, &inv), 0);
	assert_int_equal(inv.status, STORE_RUNNING);
	assert_string_equal(inv.host, "h3");
	assert_int_equal(inv.created_ms, 1700000000000);
	assert_int_equal(inv.started_ms, 1700000000000);
	assert_null(inv.input);
	store_invocation_clear(&inv);
	char d[STORE_ID_SIZE];
	assert_int_equal(store_invocation_new_id(d), 0);
	assert_string_not_equal(c, d);
	assert_int_equal(store_invocation_create_running(s, d, 1700000000000, "acme", "hello", 7,
							 "h3", "acme"),
			 -ENOENT);
	assert_int_equal(store_invocation_create_running(s, d, 1700000000000, "acme", "hello", 1,
							 NULL, "acme"),
			 -EINVAL);
	assert_int_equal(store_invocation_create_running(s, "xyz", 1700000000000, "acme", "hello",
							 1, "h3", "acme"),
			 -EINVAL);
	/* Checkpoints run on demand when automatic ones are off. */
	assert_int_equal(store_set_autocheckpoint(s, 0), 0);
	assert_int_equal(store_checkpoint(s), 0);
	/* A sync one is never requeued: its client is waiting for an answer. */
	assert_int_equal(store_invocation_requeue(s, b), -EALREADY);
	assert_int_equal(store_invocation_requeue(s, "00"), -ENOENT);

	assert_int_equal(store_invocation_start(s, a, "h2", "acme.3", -1), 0);
	struct store_outcome o = { .status = STORE_OK,
				   .cpu = 5,
				   .has_vcpu = true,
				   .workers = 2,
				   .vcpu_alloc_ms = 1500,
				   .vcpu_busy_ms = 700 };
	assert_int_equal(store_invocation_finish(s, a, &o), 0);
	assert_int_equal(store_invocation_requeue(s, a), -EALREADY);
	assert_int_equal(store_invocation_get(s, "acme", a, &inv), 0);
	assert_int_equal(inv.cpu, 5);
	assert_string_equal(inv.host, "h2");
	assert_string_equal(inv.vm, "acme.3");
	assert_int_equal(inv.workers, 2);
	assert_int_equal(inv.vcpu_alloc_ms, 1500);
	assert_int_equal(inv.vcpu_busy_ms, 700);
	store_invocation_clear(&inv);
	/* An outcome without the VM's accounting leaves it unknown. */
	assert_int_equal(store_invocation_get(s, "acme", b, &inv), 0);
	assert_int_equal(inv.workers, -1);
	assert_int_equal(inv.vcpu_alloc_ms, -1);
	store_invocation_clear(&inv);
}

static void test_list_paging(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	tenant_with_fn(s, "acme", "f");
	put_fn(s, "acme", "g", 1);
	tenant_with_fn(s, "beta", "f");
	char ids[N_LIST][STORE_ID_SIZE], id[STORE_ID_SIZE];
	for (int i = 0; i < N_LIST; i++) {
		assert_int_equal(store_invocation_create(s, "acme", i % 3 ? "f" : "g", 1, false,
							 "x", 1, ids[i]),
				 0);
		if (i % 2)
			finish(s, ids[i], STORE_OK);
	}
	assert_int_equal(store_invocation_create(s, "beta", "f", 1, false, NULL, 0, id), 0);

	/* Page through with several page sizes: every record exactly once,
	 * newest first. */
	const unsigned sizes[] = { 1, 4, 7, 25, 1000 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		bool seen[N_LIST] = { false };
		size_t total = 0;
		char cursor[STORE_CURSOR_SIZE] = "";
		int64_t last_ms = INT64_MAX;
		char last_id[STORE_ID_SIZE] = "g";
		do {
			struct store_invocation *page;
			size_t n;
			char next[STORE_CURSOR_SIZE];
			assert_int_equal(store_invocation_list(s, "acme", NULL, cursor, sizes[k],
							       &page, &n, next),
					 0);
			assert_true(n <= sizes[k]);
			for (size_t i = 0; i < n; i++) {
				assert_null(page[i].input);
				assert_true(page[i].created_ms < last_ms ||
					    (page[i].created_ms == last_ms &&
					     strcmp(page[i].id, last_id) < 0));
				last_ms = page[i].created_ms;
				strcpy(last_id, page[i].id);
				int found = -1;
				for (int j = 0; j < N_LIST; j++)
					if (!strcmp(ids[j], page[i].id))
						found = j;
				assert_true(found >= 0);
				assert_false(seen[found]);
				seen[found] = true;
				total++;
			}
			if (next[0])
				assert_int_equal(n, sizes[k]);
			strcpy(cursor, next);
			store_invocations_free(page, n);
		} while (cursor[0]);
		assert_int_equal(total, N_LIST);
	}

	/* Filters. */
	struct store_invocation *page;
	size_t n;
	char next[STORE_CURSOR_SIZE];
	struct store_filter by_g = { .function = "g" };
	assert_int_equal(store_invocation_list(s, "acme", &by_g, NULL, 1000, &page, &n, next), 0);
	assert_int_equal(n, 9); /* i = 0, 3, ..., 24 */
	for (size_t i = 0; i < n; i++)
		assert_string_equal(page[i].function, "g");
	assert_string_equal(next, "");
	store_invocations_free(page, n);
	struct store_filter ok_f = { .function = "f", .has_status = true, .status = STORE_OK };
	assert_int_equal(store_invocation_list(s, "acme", &ok_f, NULL, 1000, &page, &n, next), 0);
	size_t want = 0;
	for (int i = 0; i < N_LIST; i++)
		want += (i % 2) && (i % 3);
	assert_int_equal(n, want);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(page[i].status, STORE_OK);
	store_invocations_free(page, n);
	assert_int_equal(store_invocation_list(s, "beta", NULL, NULL, 1000, &page, &n, next), 0);
	assert_int_equal(n, 1);
	assert_string_equal(page[0].id, id);
	store_invocations_free(page, n);

	assert_int_equal(store_invocation_list(s, "acme", NULL, NULL, 0, &page, &n, next), -EINVAL);
	assert_int_equal(store_invocation_list(s, "acme", NULL, NULL, 1001, &page, &n, next),
			 -EINVAL);
	assert_int_equal(store_invocation_list(s, "acme", NULL, "garbage", 10, &page, &n, next),
			 -EINVAL);
	assert_int_equal(store_invocation_list(s, "acme", NULL, "12.zz", 10, &page, &n, next),
			 -EINVAL);
}

static void test_retention(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	tenant_with_fn(s, "acme", "f");
	tenant_with_fn(s, "beta", "f");
	struct store_invocation inv;
	char old[STORE_ID_SIZE], young[STORE_ID_SIZE], queued[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, queued), 0);
	assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, old), 0);
	finish(s, old, STORE_OK);
	assert_int_equal(store_invocation_get(s, "acme", old, &inv), 0);
	int64_t old_finished = inv.finished_ms;
	store_invocation_clear(&inv);
	clock_pass(old_finished);
	assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, young), 0);
	finish(s, young, STORE_OK);
	assert_int_equal(store_invocation_get(s, "acme", young, &inv), 0);
	int64_t cutoff = inv.finished_ms;
	store_invocation_clear(&inv);

	/* By age: only what finished before the cutoff goes. */
	size_t deleted = 99;
	assert_int_equal(store_invocations_prune(s, cutoff, 0, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(store_invocation_get(s, "acme", old, &inv), -ENOENT);
	assert_int_equal(store_invocation_get(s, "acme", young, &inv), 0);
	store_invocation_clear(&inv);

	/* By count, per tenant: acme keeps its 2 newest finished records,
	 * beta's are not counted against acme's. */
	char a[5][STORE_ID_SIZE], b[3][STORE_ID_SIZE];
	for (int i = 0; i < 5; i++) {
		clock_pass(time_wall_ms());
		assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, NULL, 0, a[i]),
				 0);
		finish(s, a[i], STORE_OK);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_invocation_create(s, "beta", "f", 1, false, NULL, 0, b[i]),
				 0);
		finish(s, b[i], STORE_ERROR);
	}
	assert_int_equal(store_invocations_prune(s, 0, 2, &deleted), 0);
	assert_int_equal(deleted, 4 + 1); /* acme: young, a0..a2; beta: b's oldest */
	assert_int_equal(store_invocation_get(s, "acme", a[4], &inv), 0);
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(s, "acme", a[3], &inv), 0);
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(s, "acme", a[2], &inv), -ENOENT);
	assert_int_equal(store_invocation_get(s, "acme", young, &inv), -ENOENT);

	/* Unfinished records are never pruned. */
	assert_int_equal(store_invocations_prune(s, INT64_MAX, 1, NULL), 0);
	assert_int_equal(store_invocation_get(s, "acme", queued, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	store_invocation_clear(&inv);
	struct store_invocation *page;
	size_t n;
	char next[STORE_CURSOR_SIZE];
	assert_int_equal(store_invocation_list(s, "acme", NULL, NULL, 100, &page, &n, next), 0);
	assert_int_equal(n, 1);
	store_invocations_free(page, n);
}

static bool contains(const struct store_id *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ids[i].id, id))
			return true;
	return false;
}

static void test_recover(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->s, "acme"), 0);
	put_fn(f->s, "acme", "f", 1);
	char sq[STORE_ID_SIZE], sr[STORE_ID_SIZE], aq[STORE_ID_SIZE], ar[STORE_ID_SIZE],
		done[STORE_ID_SIZE];
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, false, NULL, 0, sq), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, false, NULL, 0, sr), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, true, "in", 2, aq), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, true, NULL, 0, ar), 0);
	assert_int_equal(store_invocation_create(f->s, "acme", "f", 1, false, NULL, 0, done), 0);
	assert_int_equal(store_invocation_start(f->s, sr, "h1", "vm", 1), 0);
	assert_int_equal(store_invocation_start(f->s, ar, "h1", "vm", 2), 0);
	finish(f->s, done, STORE_OK);

	/* The controller dies: reopen as a restart would. */
	store_close(f->s);
	assert_int_equal(store_open(f->uri, &f->s), 0);
	size_t failed = 0, n_retry = 0;
	struct store_id *retry = NULL;
	assert_int_equal(store_invocations_recover(f->s, "controller restarted", 1, &failed, &retry,
						   &n_retry),
			 0);
	assert_int_equal(failed, 2);
	assert_int_equal(n_retry, 2);
	assert_true(contains(retry, n_retry, aq));
	assert_true(contains(retry, n_retry, ar));
	free(retry);

	struct store_invocation inv;
	const char *failed_ids[] = { sq, sr };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(store_invocation_get(f->s, "acme", failed_ids[i], &inv), 0);
		assert_int_equal(inv.status, STORE_ERROR);
		assert_string_equal(inv.error, "controller restarted");
		assert_true(inv.finished_ms > 0);
		store_invocation_clear(&inv);
	}
	assert_int_equal(store_invocation_get(f->s, "acme", ar, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_int_equal(inv.retries, 1);
	assert_string_equal(inv.host, "");
	assert_int_equal(inv.cpu, -1);
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(f->s, "acme", aq, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_int_equal(inv.retries, 0);        /* it never ran: no attempt spent */
	assert_memory_equal(inv.input, "in", 2); /* what the retry runs with */
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(f->s, "acme", done, &inv), 0);
	assert_int_equal(inv.status, STORE_OK);
	store_invocation_clear(&inv);

	/* ar runs again and the controller dies again: its one retry spent, it
	 * fails; aq, still queued, never ran and is queued again as it is. */
	assert_int_equal(store_invocation_start(f->s, ar, "h1", "vm", 1), 0);
	store_close(f->s);
	assert_int_equal(store_open(f->uri, &f->s), 0);
	assert_int_equal(
		store_invocations_recover(f->s, "restarted again", 1, &failed, &retry, &n_retry),
		0);
	assert_int_equal(failed, 1);
	assert_int_equal(n_retry, 1);
	assert_true(contains(retry, n_retry, aq));
	free(retry);
	assert_int_equal(store_invocation_get(f->s, "acme", ar, &inv), 0);
	assert_int_equal(inv.status, STORE_ERROR);
	assert_string_equal(inv.error, "restarted again");
	store_invocation_clear(&inv);
	assert_int_equal(store_invocation_get(f->s, "acme", aq, &inv), 0);
	assert_int_equal(inv.status, STORE_QUEUED);
	assert_int_equal(inv.retries, 0);
	store_invocation_clear(&inv);

	/* A late reply cannot overwrite the recorded failure. */
	struct store_outcome o = { .status = STORE_OK };
	assert_int_equal(store_invocation_finish(f->s, ar, &o), -EALREADY);

	/* Nor the outcome of an attempt cut short land after a later one
	 * started: it is fenced to its attempt's retries. */
	assert_int_equal(store_invocation_start(f->s, aq, "h1", "vm", 1), 0);
	assert_int_equal(store_invocation_requeue(f->s, aq), 0);
	assert_int_equal(store_invocation_start(f->s, aq, "h1", "vm", 2), 0);
	struct store_outcome late = { .status = STORE_ERROR, .error = "late", .fenced = true };
	assert_int_equal(store_invocation_finish(f->s, aq, &late), -EALREADY);
	struct store_outcome now = { .status = STORE_OK, .fenced = true, .retries = 1 };
	assert_int_equal(store_invocation_finish(f->s, aq, &now), 0);
	assert_int_equal(store_invocation_get(f->s, "acme", aq, &inv), 0);
	assert_int_equal(inv.status, STORE_OK);
	assert_int_equal(inv.retries, 1);
	store_invocation_clear(&inv);
}

#define MANY 10000

static void test_many_invocations(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	tenant_with_fn(s, "acme", "f");
	char id[STORE_ID_SIZE];
	for (int i = 0; i < MANY; i++)
		assert_int_equal(store_invocation_create(s, "acme", "f", 1, false, "{}", 2, id), 0);
	size_t total = 0;
	char cursor[STORE_CURSOR_SIZE] = "";
	do {
		struct store_invocation *page;
		size_t n;
		char next[STORE_CURSOR_SIZE];
		assert_int_equal(store_invocation_list(s, "acme", NULL, cursor, STORE_LIST_MAX,
						       &page, &n, next),
				 0);
		total += n;
		strcpy(cursor, next);
		store_invocations_free(page, n);
	} while (cursor[0]);
	assert_int_equal(total, MANY);
}

int main(void)
{
	const struct CMUnitTest both[] = {
		cmocka_unit_test(test_invocation_lifecycle),
		cmocka_unit_test(test_chosen_id),
		cmocka_unit_test(test_requeue_and_cpu),
		cmocka_unit_test(test_list_paging),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_recover),
		cmocka_unit_test(test_many_invocations),
	};
	return store_run(both, sizeof(both) / sizeof(both[0]), NULL, 0);
}
