/* Tenants, keys and scaling through the command line. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "e2e.h"
#include "encoding.h"
#include "snp_verify.h"
#include "util.h"

void test_tenants(void **state)
{
	struct run r;
	DITTO(&r, S.admin, "tenant", "create", "acme");
	take_key(&r, S.tenant_key, sizeof(S.tenant_key));
	run_free(&r);

	ditto_fails(S.admin, 1, "(exists, HTTP 409)", ARGV("tenant", "create", "acme"));
	ditto_fails(S.admin, 1, "(bad_name, HTTP 400)", ARGV("tenant", "create", "Not_Valid"));
	ditto_fails(S.tenant_key, 1, "(forbidden, HTTP 403)", ARGV("tenant", "list"));

	DITTO(&r, S.admin, "tenant", "list");
	expect_out(&r, "NAME ", ARGV("\nacme ", "MECHANISM"));
	run_free(&r);

	json_t *o = ditto_json(S.admin, ARGV("--json", "tenant", "list"));
	json_t *t = json_array_get(json_object_get(o, "tenants"), 0);
	assert_string_equal(json_string_value(json_object_get(t, "name")), "acme");
	assert_true(json_is_object(json_object_get(t, "scaling")));
	json_decref(o);

	/* The tenant's own key reads its tenant; the table names it. */
	DITTO(&r, S.tenant_key, "tenant", "get", "acme");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "Name:"));
	assert_non_null(strstr(r.out, "acme"));
	assert_non_null(strstr(r.out, "Scaling:"));
	run_free(&r);
	o = ditto_json(S.admin, ARGV("tenant", "get", "acme", "--json"));
	assert_string_equal(json_string_value(json_object_get(o, "name")), "acme");
	json_decref(o);
	ditto_fails(S.admin, 1, "(not_found, HTTP 404)", ARGV("tenant", "get", "nobody"));
}

void test_keys(void **state)
{
	struct run r;
	char k1[128], k2[128], k3[128];
	DITTO(&r, S.admin, "key", "create", "acme");
	take_key(&r, k1, sizeof(k1));
	run_free(&r);
	/* A tenant key makes keys for its own tenant... */
	DITTO(&r, k1, "key", "create", "acme");
	take_key(&r, k2, sizeof(k2));
	run_free(&r);
	assert_string_not_equal(k1, k2);
	/* ... named by DITTO_TENANT when not on the command line ... */
	char url[160], key[160];
	snprintf(url, sizeof(url), "DITTO_URL=%s", S.ctl.url);
	snprintf(key, sizeof(key), "DITTO_KEY=%s", k2);
	const char *env[] = { url, key, "DITTO_TENANT=acme", "DITTO_ENV=/nonexistent", NULL };
	run_env(&r, env, NULL, (const char *const[]){ "key", "create", NULL });
	take_key(&r, k3, sizeof(k3));
	run_free(&r);
	/* ... and no other tenant's. */
	DITTO(&r, S.admin, "tenant", "create", "other");
	expect_ok(&r);
	run_free(&r);
	ditto_fails(k3, 1, "(forbidden, HTTP 403)", ARGV("key", "create", "other"));

	json_t *o = ditto_json(S.admin, ARGV("key", "create", "acme", "--json"));
	assert_true(is_key(json_string_value(json_object_get(o, "key"))));
	json_decref(o);
}

void test_scale(void **state)
{
	struct run r;
	DITTO(&r, S.admin, "scale", "acme", "--min", "1", "--max", "3", "--mechanism", "hotplug",
	      "--policy", "elastic:500");
	expect_ok(&r);
	assert_string_equal(r.out,
			    "tenant acme: min 1, max 3, mechanism hotplug, policy elastic:500\n");
	run_free(&r);
	/* Left-out fields keep their values. */
	json_t *o = ditto_json(S.admin, ARGV("--json", "scale", "acme", "--policy", "fixed:2"));
	json_t *s = json_object_get(o, "scaling");
	assert_int_equal(json_integer_value(json_object_get(s, "min")), 1);
	assert_int_equal(json_integer_value(json_object_get(s, "max")), 3);
	assert_string_equal(json_string_value(json_object_get(s, "mechanism")), "hotplug");
	assert_string_equal(json_string_value(json_object_get(s, "policy")), "fixed:2");
	json_decref(o);

	/* Every policy lib/policy parses but manual; the controller has the
	 * last word on combinations. */
	DITTO(&r, S.admin, "scale", "acme", "--policy", "scale-out:1000");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "policy scale-out:1000\n"));
	run_free(&r);
	DITTO(&r, S.admin, "scale", "acme", "--policy", "fixed:max", "--mechanism", "precreated");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "policy fixed:max\n"));
	run_free(&r);
	ditto_fails(
		S.admin, 1, "needs the precreated mechanism",
		ARGV("scale", "acme", "--mechanism", "hotplug", "--policy", "elastic:standby=1"));
	ditto_fails(S.admin, 1, "(bad_field, HTTP 400)",
		    ARGV("scale", "acme", "--min", "3", "--max", "2"));
	ditto_fails(S.admin, 1, "(not_found, HTTP 404)", ARGV("scale", "nobody", "--max", "2"));
	ditto_fails(S.tenant_key, 1, "(forbidden, HTTP 403)", ARGV("scale", "acme", "--max", "2"));
}

#define HOST_DATA "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HOST_DATA_UPPER "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"

/* e2e_host_data of the tenant secret in path, as hex. */
static void commitment(const char *path, char hex[2 * SNP_HOST_DATA_SIZE + 1])
{
	char text[80];
	uint8_t secret[E2E_KEY_SIZE], hd[SNP_HOST_DATA_SIZE];
	assert_int_equal(file_read_text(path, text, sizeof(text)), 2 * E2E_KEY_SIZE);
	assert_int_equal(hex_to_bytes(text, secret, sizeof(secret)), 0);
	e2e_host_data(secret, hd);
	bytes_to_hex(hd, sizeof(hd), hex);
}

/* Confidential tenants: the options reach the controller, which has the last
 * word on combinations; bad values never leave the command line. With
 * sev-snp, host_data is the commitment to the tenant secret. */
void test_confidential(void **state)
{
	/* Without a key: a usage error comes before any request. */
	ditto_fails(NULL, 2, "--confidential must be none or sev-snp",
		    ARGV("tenant", "create", "conf", "--confidential", "tdx"));
	ditto_fails(NULL, 2, "--confidential must be none or sev-snp",
		    ARGV("scale", "acme", "--confidential", "SEV-SNP"));
	ditto_fails(NULL, 2, "once",
		    ARGV("scale", "acme", "--require-attestation", "--no-require-attestation"));

	ditto_fails(NULL, 2, "not both",
		    ARGV("tenant", "create", "conf", "--confidential", "sev-snp", "--e2e-key", "k",
			 "--host-data", HOST_DATA));
	ditto_fails(NULL, 2, "--host-data must be 64 hex digits",
		    ARGV("scale", "acme", "--host-data", "abc"));

	/* sev-snp: the commitment to the tenant secret (made where it is
	 * missing) goes with it. */
	char secret[160], want[2 * SNP_HOST_DATA_SIZE + 1];
	snprintf(secret, sizeof(secret), "%s/conf.e2e-key", S.dir);
	struct run r;
	DITTO(&r, S.admin, "tenant", "create", "conf", "--confidential", "sev-snp", "--e2e-key",
	      secret);
	char key[128];
	take_key(&r, key, sizeof(key));
	assert_non_null(strstr(r.err, "created the tenant secret"));
	run_free(&r);
	commitment(secret, want);
	json_t *o = ditto_json(S.admin, ARGV("tenant", "get", "conf", "--json"));
	assert_string_equal(json_string_value(json_object_get(o, "confidential")), "sev-snp");
	assert_string_equal(json_string_value(json_object_get(o, "attestation")), "optional");
	assert_string_equal(json_string_value(json_object_get(o, "host_data")), want);
	json_decref(o);
	DITTO(&r, key, "tenant", "get", "conf");
	expect_out(&r, "Name:", ARGV("Host data:", want));
	run_free(&r);
	/* A commitment made elsewhere, lower-cased. */
	DITTO(&r, S.admin, "tenant", "create", "conf3", "--confidential", "sev-snp", "--host-data",
	      HOST_DATA_UPPER);
	expect_ok(&r);
	run_free(&r);
	o = ditto_json(S.admin, ARGV("tenant", "get", "conf3", "--json"));
	assert_string_equal(json_string_value(json_object_get(o, "host_data")), HOST_DATA);
	json_decref(o);

	DITTO(&r, S.admin, "scale", "conf", "--require-attestation");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "\ntenant conf: sev-snp, attestation required\n"));
	run_free(&r);
	DITTO(&r, key, "tenant", "get", "conf");
	expect_out(&r, "Name:", ARGV("Confidential:", "sev-snp, attestation required"));
	run_free(&r);
	ditto_fails(S.admin, 1, "needs the precreated mechanism",
		    ARGV("scale", "conf", "--mechanism", "hotplug"));
	DITTO(&r, S.admin, "scale", "conf", "--no-require-attestation", "--confidential", "none");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "\ntenant conf: none, attestation optional\n"));
	run_free(&r);
	/* Back to sev-snp: the same secret, the same commitment; another one
	 * given changes it. */
	DITTO(&r, S.admin, "scale", "conf", "--confidential", "sev-snp", "--e2e-key", secret);
	expect_ok(&r);
	char line[200];
	snprintf(line, sizeof(line), "\ntenant conf: host_data %s\n", want);
	assert_non_null(strstr(r.out, line));
	run_free(&r);
	DITTO(&r, S.admin, "scale", "conf", "--host-data", HOST_DATA);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "tenant conf: host_data " HOST_DATA "\n"));
	run_free(&r);
	DITTO(&r, S.admin, "scale", "conf", "--confidential", "none");
	expect_ok(&r);
	run_free(&r);

	/* Required attestation needs sev-snp. */
	ditto_fails(S.admin, 1, "(bad_field, HTTP 400)",
		    ARGV("tenant", "create", "conf2", "--require-attestation"));
	ditto_fails(S.admin, 1, "(bad_field, HTTP 400)",
		    ARGV("scale", "conf", "--require-attestation"));
}
