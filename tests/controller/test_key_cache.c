/* The verified-key cache: what it returns, and what makes it forget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "key_cache.h"

#define KEY_A "dk_0123456789abcdef0123456789abcdef01234567"
#define KEY_B "dk_89abcdef0123456789abcdef0123456789abcdef"

static void test_hit_after_put(void **state)
{
	struct key_cache kc;
	key_cache_init(&kc);
	char tenant[STORE_NAME_SIZE] = "";
	bool admin = true;
	assert_false(key_cache_get(&kc, KEY_A, tenant, &admin));
	key_cache_put(&kc, key_cache_gen(&kc), KEY_A, "acme", false);
	assert_true(key_cache_get(&kc, KEY_A, tenant, &admin));
	assert_string_equal(tenant, "acme");
	assert_false(admin);
	/* Another key is not taken for it, whatever slot it falls in. */
	assert_false(key_cache_get(&kc, KEY_B, tenant, &admin));
	key_cache_put(&kc, key_cache_gen(&kc), KEY_B, "", true);
	assert_true(key_cache_get(&kc, KEY_B, tenant, &admin));
	assert_string_equal(tenant, "");
	assert_true(admin);
	key_cache_destroy(&kc);
}

static void test_forget_drops_every_key(void **state)
{
	struct key_cache kc;
	key_cache_init(&kc);
	char tenant[STORE_NAME_SIZE];
	bool admin;
	key_cache_put(&kc, key_cache_gen(&kc), KEY_A, "acme", false);
	key_cache_put(&kc, key_cache_gen(&kc), KEY_B, "beta", false);
	key_cache_forget(&kc);
	assert_false(key_cache_get(&kc, KEY_A, tenant, &admin));
	assert_false(key_cache_get(&kc, KEY_B, tenant, &admin));
	key_cache_destroy(&kc);
}

/* A verification that began before a revocation is not kept after it. */
static void test_put_from_before_forget_is_dropped(void **state)
{
	struct key_cache kc;
	key_cache_init(&kc);
	uint64_t gen = key_cache_gen(&kc);
	key_cache_forget(&kc);
	key_cache_put(&kc, gen, KEY_A, "acme", false);
	char tenant[STORE_NAME_SIZE];
	bool admin;
	assert_false(key_cache_get(&kc, KEY_A, tenant, &admin));
	key_cache_put(&kc, key_cache_gen(&kc), KEY_A, "acme", false);
	assert_true(key_cache_get(&kc, KEY_A, tenant, &admin));
	key_cache_destroy(&kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_after_put),
		cmocka_unit_test(test_forget_drops_every_key),
		cmocka_unit_test(test_put_from_before_forget_is_dropped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
