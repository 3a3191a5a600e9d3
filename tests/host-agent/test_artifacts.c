/* The agent's artifact store: what it stored is known from memory (its file
 * removed behind its back still counts until a read finds it gone), a read
 * that finds the file gone forgets it so that the controller's push writes it
 * again, and forgetting one digest of a crowded set keeps the others. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "artifacts.h"
#include "sha256.h"
#include "support/files.h"

#define MANY 600

struct fixture {
	char dir[256];
	struct artifacts store;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	assert_int_equal(scratch_dir(fx->dir, sizeof(fx->dir), "artifacts"), 0);
	assert_int_equal(artifacts_init(&fx->store, fx->dir, 1 << 20), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	remove_tree(fx->dir);
	free(fx);
	return 0;
}

/* Stores "artifact N" and writes its digest. */
static void put_nth(struct fixture *fx, int n, char digest[SHA256_HEX_SIZE])
{
	char body[32];
	int len = snprintf(body, sizeof(body), "artifact %d", n);
	sha256_hex(body, (size_t)len, digest);
	assert_int_equal(artifacts_put(&fx->store, digest, body, (size_t)len), 0);
}

static void remove_file(struct fixture *fx, const char *digest)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", fx->dir, digest);
	assert_int_equal(unlink(path), 0);
}

static void test_deleted_file_is_stored_again(void **state)
{
	struct fixture *fx = *state;
	char d[SHA256_HEX_SIZE];
	put_nth(fx, 1, d);
	assert_true(artifacts_has(&fx->store, d));
	remove_file(fx, d);
	/* Known from memory: the warm path asks no file system. */
	assert_true(artifacts_has(&fx->store, d));
	void *buf;
	size_t len;
	assert_int_equal(artifacts_get(&fx->store, d, &buf, &len), -ENOENT);
	/* Forgotten: the invocation answers no_artifact and the push is stored. */
	assert_false(artifacts_has(&fx->store, d));
	put_nth(fx, 1, d);
	assert_true(artifacts_has(&fx->store, d));
	assert_int_equal(artifacts_get(&fx->store, d, &buf, &len), 0);
	assert_int_equal(len, strlen("artifact 1"));
	assert_memory_equal(buf, "artifact 1", len);
	free(buf);
}

static void test_found_on_disk_is_known(void **state)
{
	struct fixture *fx = *state;
	char d[SHA256_HEX_SIZE];
	put_nth(fx, 2, d);
	/* A new store over the same folder (an agent restarted) finds it. */
	struct artifacts *again = calloc(1, sizeof(*again));
	assert_non_null(again);
	assert_int_equal(artifacts_init(again, fx->dir, 1 << 20), 0);
	assert_true(artifacts_has(again, d));
	remove_file(fx, d);
	assert_true(artifacts_has(again, d));
	artifacts_forget(again, d);
	assert_false(artifacts_has(again, d));
	char zero[SHA256_HEX_SIZE];
	memset(zero, '0', 64);
	zero[64] = '\0';
	assert_false(artifacts_has(again, zero));
	assert_false(artifacts_has(again, "not a digest"));
	free(again);
}

static void test_forget_keeps_the_others(void **state)
{
	struct fixture *fx = *state;
	static char d[MANY][SHA256_HEX_SIZE];
	for (int i = 0; i < MANY; i++)
		put_nth(fx, i, d[i]);
	for (int i = 0; i < MANY; i++)
		remove_file(fx, d[i]);
	for (int i = 0; i < MANY; i += 2)
		artifacts_forget(&fx->store, d[i]);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(artifacts_has(&fx->store, d[i]), i % 2 == 1);
	assert_int_equal(fx->store.n_known, MANY / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deleted_file_is_stored_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_found_on_disk_is_known, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_keeps_the_others, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
