/* tenant create, scale and tenant get: a tenant's concurrency (sent when
 * given, refused outside 1..10000) and a confidential tenant's host_data:
 * the commitment sent is e2e_host_data of the tenant secret (the secret
 * created where it is missing, as deploy --encrypted does), or --host-data
 * as given; both flags, a bad value or an unusable secret are refused with
 * one line before any request. The commands run in this
 * process against a stand-in controller that records what it was sent
 * (fake_api.h).
 *
 * Compiles the CLI's modules in, as test_cli does. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>

#include "../../cli/cli.c"
#include "../../cli/cmd_sealed.c"
#include "../../cli/cmd_tenant.c"
#include "../../cli/http.c"
#include "../../cli/output.c"
#include "../../cli/sealed.c"
#include "encoding.h"
#include "fake_api.h"

#define HD_UPPER "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
#define HD_LOWER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* The stand-in controller answers every request with the tenant it was sent
 * (and a key); its concurrency is the one sent, else 100. */
static json_t *fake_answer(const char *method, const char *url, const json_t *body)
{
	json_t *conc = json_object_get(body, "concurrency");
	return json_pack("{s:s, s:s, s:O?, s:{s:i, s:i, s:s, s:s, s:I}}", "name", "acme", "key",
			 "tenant-key-1", "host_data", json_object_get(body, "host_data"), "scaling",
			 "min", 0, "max", 2, "mechanism", "precreated", "policy", "elastic",
			 "concurrency", conc ? json_integer_value(conc) : (json_int_t)100);
}

static int setup(void **state)
{
	return fake_setup("tenant");
}

/* e2e_host_data of the secret in path, as hex. */
static void commitment(const char *path, char hex[2 * SNP_HOST_DATA_SIZE + 1])
{
	uint8_t secret[E2E_KEY_SIZE], hd[SNP_HOST_DATA_SIZE];
	assert_int_equal(sealed_secret_read(path, secret), 0);
	e2e_host_data(secret, hd);
	bytes_to_hex(hd, sizeof(hd), hex);
}

static const char *body_str(const struct ran *r, const char *key)
{
	return json_string_value(json_object_get(r->body, key));
}

/* Runs a command that must succeed, sending request with host_data the
 * commitment to the secret in key (hex into want). Returns the run; the
 * caller drops its body. */
static struct ran sends_commitment(const struct cli_command *cmd, const char *const *args,
				   const char *request, const char *key,
				   char want[2 * SNP_HOST_DATA_SIZE + 1])
{
	struct ran r = run(cmd, args);
	assert_int_equal(r.code, 0);
	assert_string_equal(r.request, request);
	commitment(key, want);
	assert_string_equal(body_str(&r, "host_data"), want);
	return r;
}

static void test_create_computes_host_data(void **state)
{
	char key[300], want[2 * SNP_HOST_DATA_SIZE + 1];
	snprintf(key, sizeof(key), "%s/keys/acme.key", dir);
	/* The secret does not exist yet: made, 0600, and committed to. */
	struct ran r = sends_commitment(
		&cmd_tenant_create,
		ARGV("create", "acme", "--confidential", "sev-snp", "--e2e-key", key),
		"POST /v1/tenants", key, want);
	assert_string_equal(body_str(&r, "confidential"), "sev-snp");
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(strstr(r.err, "created the tenant secret"));
	json_decref(r.body);
	/* It exists now: read, not replaced, so the same commitment. */
	r = run(&cmd_tenant_create,
		ARGV("create", "acme", "--e2e-key", key, "--confidential", "sev-snp"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.err, "");
	assert_string_equal(body_str(&r, "host_data"), want);
	json_decref(r.body);

	/* No --e2e-key: $DITTO_E2E_KEY, else the tenant's default file. */
	setenv("DITTO_E2E_KEY", key, 1);
	r = run(&cmd_tenant_create, ARGV("create", "beta", "--confidential", "sev-snp"));
	assert_string_equal(body_str(&r, "host_data"), want);
	json_decref(r.body);
	unsetenv("DITTO_E2E_KEY");
	r = run(&cmd_tenant_create, ARGV("create", "beta", "--confidential", "sev-snp"));
	assert_int_equal(r.code, 0);
	char def[300];
	snprintf(def, sizeof(def), "%s/.config/ditto/beta.e2e-key", dir);
	commitment(def, want);
	assert_string_equal(body_str(&r, "host_data"), want);
	json_decref(r.body);
}

static void test_create_host_data_given(void **state)
{
	/* Given: sent lower-cased, and no secret is made. */
	struct ran r = run(&cmd_tenant_create, ARGV("create", "gamma", "--confidential", "sev-snp",
						    "--host-data", HD_UPPER));
	assert_int_equal(r.code, 0);
	assert_string_equal(body_str(&r, "host_data"), HD_LOWER);
	json_decref(r.body);
	char def[300];
	snprintf(def, sizeof(def), "%s/.config/ditto/gamma.e2e-key", dir);
	assert_int_equal(access(def, F_OK), -1);
	/* Without sev-snp nothing is computed; given, it is sent as it is. */
	r = run(&cmd_tenant_create, ARGV("create", "gamma"));
	assert_int_equal(r.code, 0);
	assert_null(json_object_get(r.body, "host_data"));
	assert_null(json_object_get(r.body, "confidential"));
	json_decref(r.body);
	r = run(&cmd_tenant_create, ARGV("create", "gamma", "--confidential", "none"));
	assert_null(json_object_get(r.body, "host_data"));
	json_decref(r.body);
	assert_int_equal(access(def, F_OK), -1);
}

static void test_refusals(void **state)
{
	char key[300], loose[300];
	snprintf(key, sizeof(key), "%s/refusals.key", dir);
	snprintf(loose, sizeof(loose), "%s/loose.key", dir);
	assert_int_equal(file_replace_text(loose, HD_LOWER "\n", 0644, false), 0);
	const struct cli_command *cmds[] = { &cmd_tenant_create, &cmd_scale };
	const char *verbs[] = { "create", "scale" };
	for (size_t i = 0; i < 2; i++) {
		const struct cli_command *c = cmds[i];
		const char *v = verbs[i];
		refused(c,
			ARGV(v, "acme", "--confidential", "sev-snp", "--e2e-key", key,
			     "--host-data", HD_LOWER),
			"give --e2e-key or --host-data, not both");
		refused(c, ARGV(v, "acme", "--host-data", HD_LOWER, "--e2e-key", key), "not both");
		refused(c, ARGV(v, "acme", "--host-data", "abc"),
			"--host-data must be 64 hex digits");
		refused(c, ARGV(v, "acme", "--host-data", HD_LOWER "00"), "64 hex digits");
		refused(c, ARGV(v, "acme", "--confidential", "sev-snp", "--e2e-key", loose),
			"chmod 600");
		/* A name that is no tenant's names no secret file. */
		refused(c, ARGV(v, "../etc", "--confidential", "sev-snp"), "give --e2e-key FILE");
	}
	/* Nothing was made along the way. */
	assert_int_equal(access(key, F_OK), -1);
	refused(&cmd_scale, ARGV("scale", "acme"), "--e2e-key or --host-data");
}

static void test_scale_host_data(void **state)
{
	char key[300], want[2 * SNP_HOST_DATA_SIZE + 1];
	snprintf(key, sizeof(key), "%s/scale.key", dir);
	struct ran r = sends_commitment(
		&cmd_scale, ARGV("scale", "acme", "--confidential", "sev-snp", "--e2e-key", key),
		"PUT /v1/tenants/acme/scaling", key, want);
	assert_string_equal(body_str(&r, "confidential"), "sev-snp");
	json_decref(r.body);
	/* --e2e-key alone changes host_data only; so does --host-data. */
	r = run(&cmd_scale, ARGV("scale", "acme", "--e2e-key", key));
	assert_int_equal(r.code, 0);
	assert_string_equal(body_str(&r, "host_data"), want);
	assert_null(json_object_get(r.body, "confidential"));
	json_decref(r.body);
	r = run(&cmd_scale, ARGV("scale", "acme", "--host-data", HD_UPPER));
	assert_string_equal(body_str(&r, "host_data"), HD_LOWER);
	json_decref(r.body);
	/* Back to none: host_data is left as the controller has it. */
	r = run(&cmd_scale, ARGV("scale", "acme", "--confidential", "none"));
	assert_int_equal(r.code, 0);
	assert_string_equal(body_str(&r, "confidential"), "none");
	assert_null(json_object_get(r.body, "host_data"));
	json_decref(r.body);
}

/* --concurrency N is sent as the tenant's "concurrency" and nothing else
 * changes; scale prints the new value. A value outside 1..10000 is refused
 * with one line before any request. */
static void test_concurrency(void **state)
{
	struct ran r = run(&cmd_scale, ARGV("scale", "acme", "--concurrency", "7"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.request, "PUT /v1/tenants/acme/scaling");
	assert_int_equal(json_integer_value(json_object_get(r.body, "concurrency")), 7);
	assert_int_equal(json_object_size(r.body), 1);
	assert_non_null(strstr(r.out, "\ntenant acme: concurrency 7"));
	json_decref(r.body);
	r = run(&cmd_tenant_create, ARGV("create", "acme", "--concurrency", "10000"));
	assert_int_equal(r.code, 0);
	assert_string_equal(r.request, "POST /v1/tenants");
	assert_int_equal(json_integer_value(json_object_get(r.body, "concurrency")), 10000);
	json_decref(r.body);
	/* Left out, none is sent: the controller's default or the value kept. */
	r = run(&cmd_tenant_create, ARGV("create", "acme"));
	assert_null(json_object_get(r.body, "concurrency"));
	json_decref(r.body);
	r = run(&cmd_scale, ARGV("scale", "acme", "--max", "3"));
	assert_null(json_object_get(r.body, "concurrency"));
	assert_null(strstr(r.out, "concurrency"));
	json_decref(r.body);
	const char *const bad[] = { "0", "-1", "10001", "1.5", "abc", "", " 5", "+5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		refused(&cmd_scale, ARGV("scale", "acme", "--concurrency", bad[i]),
			"--concurrency must be a whole number 1..10000");
		refused(&cmd_tenant_create, ARGV("create", "acme", "--concurrency", bad[i]),
			"--concurrency must be a whole number 1..10000");
	}
}

/* The value of tenant get's row label for tenant t, into ret. */
static void shown(const json_t *t, const char *label, char *ret, size_t size)
{
	struct table tb;
	char *text = NULL;
	size_t len = 0;
	table_init(&tb, 2);
	tenant_block(&tb, t);
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(table_print(&tb, f), 0);
	fclose(f);
	table_free(&tb);
	char *row = strstr(text, label);
	assert_non_null(row);
	row += strlen(label);
	row += strspn(row, " ");
	row[strcspn(row, "\n")] = '\0';
	snprintf(ret, size, "%s", row);
	free(text);
}

/* tenant get shows host_data and the concurrency, or "-" when the tenant
 * has no host_data or the controller sends no concurrency. */
static void test_get_shows_host_data_and_concurrency(void **state)
{
	json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:{s:i}}", "name", "acme", "confidential",
			      "sev-snp", "attestation", "required", "host_data", HD_LOWER,
			      "scaling", "concurrency", 5);
	char row[128];
	shown(t, "Host data:", row, sizeof(row));
	assert_string_equal(row, HD_LOWER);
	shown(t, "Concurrency:", row, sizeof(row));
	assert_string_equal(row, "5");
	json_object_set_new(t, "host_data", json_null());
	json_object_set_new(t, "scaling", json_object());
	shown(t, "Host data:", row, sizeof(row));
	assert_string_equal(row, "-");
	shown(t, "Concurrency:", row, sizeof(row));
	assert_string_equal(row, "-");
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_computes_host_data),
		cmocka_unit_test(test_create_host_data_given),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_scale_host_data),
		cmocka_unit_test(test_concurrency),
		cmocka_unit_test(test_get_shows_host_data_and_concurrency),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
