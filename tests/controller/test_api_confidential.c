/* End-to-end tests of the controller's HTTP API (api_fixture.h) for
 * confidential tenants: their options and checks, placement on hosts that
 * cannot launch SEV-SNP, the attestation route's errors, invocation ids
 * chosen by the caller and encrypted functions. No agent runs: every
 * invocation here ends before one would be called. */
#include "api_fixture.h"
#include "support/http.h"

#define SNP_NEEDS_PRECREATED                                                                   \
	"sev-snp needs the precreated mechanism: a vCPU hot-added after launch is not in the " \
	"launch measurement"
#define SNP_NEEDS_HOST_DATA                                                                \
	"sev-snp needs host_data: the commitment to the tenant secret the VM will accept " \
	"(ditto tenant create --confidential sev-snp makes it)"
/* A tenant secret's commitment (any 64 lower-case hex digits do here). */
#define HOST_DATA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

static const char SCRIPT[] = "#!/bin/sh\necho '{}'\n";

static const char *field(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Calls as token with a body and checks the status and the error code. */
static void expect_error(struct fixture *f, const char *token, const char *method, const char *path,
			 const char *body, int status, const char *code)
{
	json_t *o;
	assert_int_equal(call(f, token, method, path, body, 0, &o), status);
	assert_string_equal(error_code(o), code);
	json_decref(o);
}

/* Calls as admin and checks for a 400 bad_field with this message. */
static void expect_bad_field(struct fixture *f, const char *method, const char *path,
			     const char *body, const char *message)
{
	json_t *o;
	assert_int_equal(call(f, f->admin, method, path, body, 0, &o), 400);
	assert_string_equal(error_code(o), "bad_field");
	assert_string_equal(error_message(o), message);
	json_decref(o);
}

static void test_tenant_options(void **state)
{
	struct fixture *f = *state;
	json_t *o;
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants",
			      "{\"name\":\"snp\",\"confidential\":\"sev-snp\","
			      "\"attestation\":\"required\",\"host_data\":\"" HOST_DATA "\"}",
			      0, &o),
			 201);
	assert_string_equal(field(o, "confidential"), "sev-snp");
	assert_string_equal(field(o, "attestation"), "required");
	assert_string_equal(field(o, "host_data"), HOST_DATA);
	json_decref(o);
	char key[128];
	make_tenant(f, "plain", key);
	assert_int_equal(call(f, key, "GET", "/v1/tenants/plain", NULL, 0, &o), 200);
	assert_string_equal(field(o, "confidential"), "none");
	assert_string_equal(field(o, "attestation"), "optional");
	assert_true(json_is_null(json_object_get(o, "host_data")));
	json_decref(o);

	/* Only SEV-SNP has evidence to require; only known values pass;
	 * host_data is 64 lower-case hex digits, and sev-snp needs it. */
	static const char *const bad[] = {
		"{\"name\":\"x\",\"attestation\":\"required\"}",
		"{\"name\":\"x\",\"confidential\":\"none\",\"attestation\":\"required\"}",
		"{\"name\":\"x\",\"confidential\":\"tdx\"}",
		"{\"name\":\"x\",\"confidential\":true}",
		"{\"name\":\"x\",\"attestation\":\"maybe\"}",
		"{\"name\":\"x\",\"confidential\":\"sev-snp\",\"host_data\":\"00ff\"}",
		"{\"name\":\"x\",\"host_data\":\"0123456789ABCDEF0123456789abcdef"
		"0123456789abcdef0123456789abcdef\"}",
		"{\"name\":\"x\",\"host_data\":\"0123456789abcdef0123456789abcdef"
		"0123456789abcdef0123456789abcdeg\"}",
		"{\"name\":\"x\",\"host_data\":1}",
		"{\"name\":\"x\",\"confidential\":\"sev-snp\",\"host_data\":null}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_error(f, f->admin, "POST", "/v1/tenants", bad[i], 400, "bad_field");
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants/x", NULL, 0, NULL), 404);

	/* Scaling: SEV-SNP keeps the precreated mechanism, either way round. */
	expect_bad_field(f, "PUT", "/v1/tenants/snp/scaling", "{\"mechanism\":\"hotplug\"}",
			 SNP_NEEDS_PRECREATED);
	expect_bad_field(f, "PUT", "/v1/tenants/plain/scaling",
			 "{\"mechanism\":\"hotplug\",\"confidential\":\"sev-snp\"}",
			 SNP_NEEDS_PRECREATED);
	expect_error(f, f->admin, "PUT", "/v1/tenants/plain/scaling",
		     "{\"attestation\":\"required\"}", 400, "bad_field");
	expect_error(f, f->admin, "PUT", "/v1/tenants/plain/scaling", "{\"confidential\":1}", 400,
		     "bad_field");
	/* A refused change changes nothing. */
	assert_int_equal(call(f, key, "GET", "/v1/tenants/plain", NULL, 0, &o), 200);
	assert_string_equal(field(o, "confidential"), "none");
	assert_string_equal(field(json_object_get(o, "scaling"), "mechanism"), "precreated");
	json_decref(o);

	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/plain/scaling",
			      "{\"confidential\":\"sev-snp\",\"attestation\":\"required\","
			      "\"host_data\":\"" HOST_DATA "\"}",
			      0, &o),
			 200);
	assert_string_equal(field(o, "confidential"), "sev-snp");
	assert_string_equal(field(o, "attestation"), "required");
	json_decref(o);
	/* Back to none needs optional first, or both at once. */
	expect_error(f, f->admin, "PUT", "/v1/tenants/plain/scaling", "{\"confidential\":\"none\"}",
		     400, "bad_field");
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/plain/scaling",
			      "{\"confidential\":\"none\",\"attestation\":\"optional\"}", 0, NULL),
			 200);
}

/* host_data: required with sev-snp (create and scaling), shown in the
 * tenant's JSON, kept (unused) with none. Malformed ones: test_tenant_options. */
static void test_tenant_host_data(void **state)
{
	struct fixture *f = *state;
	json_t *o;
	expect_bad_field(f, "POST", "/v1/tenants", "{\"name\":\"x\",\"confidential\":\"sev-snp\"}",
			 SNP_NEEDS_HOST_DATA);

	/* With none it is accepted and kept. */
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants",
			      "{\"name\":\"plain\",\"host_data\":\"" HOST_DATA "\"}", 0, &o),
			 201);
	assert_string_equal(field(o, "confidential"), "none");
	assert_string_equal(field(o, "host_data"), HOST_DATA);
	json_decref(o);
	/* Scaling: sev-snp then keeps the one stored; without one, refused. */
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/plain/scaling",
			      "{\"confidential\":\"sev-snp\"}", 0, &o),
			 200);
	assert_string_equal(field(o, "host_data"), HOST_DATA);
	json_decref(o);
	expect_bad_field(f, "PUT", "/v1/tenants/plain/scaling", "{\"host_data\":null}",
			 SNP_NEEDS_HOST_DATA);
	expect_error(f, f->admin, "PUT", "/v1/tenants/plain/scaling", "{\"host_data\":\"zz\"}", 400,
		     "bad_field");
	char key[128];
	make_tenant(f, "other", key);
	expect_bad_field(f, "PUT", "/v1/tenants/other/scaling", "{\"confidential\":\"sev-snp\"}",
			 SNP_NEEDS_HOST_DATA);
	/* A new commitment replaces the old; null clears it under none. */
	static const char other_hd[] = "ff23456789abcdef0123456789abcdef"
				       "0123456789abcdef0123456789abcdef";
	char body[160];
	snprintf(body, sizeof(body), "{\"host_data\":\"%s\"}", other_hd);
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/plain/scaling", body, 0, &o), 200);
	assert_string_equal(field(o, "host_data"), other_hd);
	json_decref(o);
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/plain/scaling",
			      "{\"confidential\":\"none\",\"host_data\":null}", 0, &o),
			 200);
	assert_true(json_is_null(json_object_get(o, "host_data")));
	json_decref(o);
}

/* Registers host id (never called: nothing is placed on it) whose status
 * says confidential (NULL: says nothing of it). */
static void host_register(struct fixture *f, const char *id, const char *confidential)
{
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"id\":\"%s\",\"address\":\"http://127.0.0.1:9\",\"cores\":4,"
		 "\"token\":\"t\",\"boot_id\":\"b\",\"status\":{\"vms\":[]%s%s}}",
		 id, confidential ? ",\"confidential\":" : "", confidential ? confidential : "");
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts", body, 0, NULL), 201);
}

/* An SEV-SNP tenant with no host that can launch it has nowhere to go, and
 * says why, host by host. */
static void test_snp_needs_capable_host(void **state)
{
	struct fixture *f = *state;
	host_register(f, "h1", "{\"sev_snp\":false,\"reason\":\"/dev/sev missing\"}");
	host_register(f, "h2", NULL);
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants",
			      "{\"name\":\"snp\",\"confidential\":\"sev-snp\","
			      "\"host_data\":\"" HOST_DATA "\"}",
			      0, NULL),
			 201);
	char key[128];
	json_t *o;
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants/snp/keys", NULL, 0, &o), 201);
	snprintf(key, sizeof(key), "%s", field(o, "key"));
	json_decref(o);
	assert_int_equal(call(f, key, "PUT", "/v1/functions/fn", SCRIPT, 0, NULL), 201);

	assert_int_equal(call(f, f->admin, "GET", "/v1/hosts", NULL, 0, &o), 200);
	json_t *h1 = json_object_get(json_array_get(json_object_get(o, "hosts"), 0),
				     "confidential");
	assert_true(json_is_false(json_object_get(h1, "sev_snp")));
	assert_string_equal(field(h1, "reason"), "/dev/sev missing");
	json_decref(o);
	static const char why[] = "no host can launch an SEV-SNP VM: h1: /dev/sev missing; "
				  "h2: it does not report SEV-SNP support";
	assert_int_equal(call(f, key, "POST", "/v1/functions/fn/invoke", "{}", 0, &o), 503);
	assert_string_equal(error_code(o), "no_capacity");
	assert_string_equal(error_message(o), why);
	json_decref(o);
	assert_int_equal(call(f, key, "GET", "/v1/tenants/snp", NULL, 0, &o), 200);
	json_t *vm = json_object_get(o, "vm");
	assert_string_equal(field(vm, "state"), "none");
	assert_string_equal(field(vm, "reason"), why);
	json_decref(o);
	/* The attestation route places a VM as an invocation would. */
	assert_int_equal(call(f, key, "GET", "/v1/tenants/snp/attestation?nonce=00ff", NULL, 0, &o),
			 503);
	assert_string_equal(error_code(o), "no_capacity");
	assert_string_equal(error_message(o), why);
	json_decref(o);
}

static void test_attestation_errors(void **state)
{
	struct fixture *f = *state;
	char k1[128], k2[128];
	make_tenant(f, "t1", k1);
	make_tenant(f, "t2", k2);
	static const char *const bad[] = {
		"/v1/tenants/t1/attestation",
		"/v1/tenants/t1/attestation?nonce=",
		"/v1/tenants/t1/attestation?nonce=abc",
		"/v1/tenants/t1/attestation?nonce=zz",
		"/v1/tenants/t1/attestation?nonce=00&x=1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_error(f, k1, "GET", bad[i], NULL, 400, "bad_parameter");
	char longest[64 + 2 * 65];
	int n = snprintf(longest, sizeof(longest), "/v1/tenants/t1/attestation?nonce=");
	memset(longest + n, 'a', 2 * 65);
	longest[n + 2 * 65] = '\0';
	expect_error(f, k1, "GET", longest, NULL, 400, "bad_parameter");
	expect_error(f, k2, "GET", "/v1/tenants/t1/attestation?nonce=00", NULL, 403, "forbidden");
	expect_error(f, f->admin, "GET", "/v1/tenants/nobody/attestation?nonce=00", NULL, 404,
		     "not_found");
	/* No host at all: as an invocation, no capacity. */
	expect_error(f, f->admin, "GET", "/v1/tenants/t1/attestation?nonce=00", NULL, 503,
		     "no_capacity");
}

/* An invocation with the id its caller chose: POST invoke with an
 * X-Ditto-Invocation-Id header (NULL: none). */
static long invoke(struct fixture *f, const char *key, const char *path, const char *id,
		   struct http_reply *r)
{
	char header[128];
	snprintf(header, sizeof(header), "X-Ditto-Invocation-Id: %s", id ? id : "");
	return http_call_header(f->proc.url, key, id ? header : NULL, "POST", path, "{}", 2, r);
}

static void test_invocation_id(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "t1", key);
	assert_int_equal(call(f, key, "PUT", "/v1/functions/fn", SCRIPT, 0, NULL), 201);
	struct http_reply r;
	/* No host: the invocation fails, but under the id chosen. */
	assert_int_equal(invoke(f, key, "/v1/functions/fn/invoke", ID_A, &r), 503);
	assert_string_equal(r.id, ID_A);
	http_reply_free(&r);
	json_t *o;
	assert_int_equal(call(f, key, "GET", "/v1/invocations/" ID_A, NULL, 0, &o), 200);
	assert_string_equal(field(o, "id"), ID_A);
	assert_string_equal(field(o, "status"), "error");
	json_decref(o);
	/* Taken, sync or async. */
	assert_int_equal(invoke(f, key, "/v1/functions/fn/invoke", ID_A, &r), 409);
	assert_string_equal(http_error_code(&r), "exists");
	http_reply_free(&r);
	assert_int_equal(invoke(f, key, "/v1/functions/fn/invoke?async=true", ID_A, &r), 409);
	assert_string_equal(http_error_code(&r), "exists");
	http_reply_free(&r);
	assert_int_equal(invoke(f, key, "/v1/functions/fn/invoke?async=true", ID_B, &r), 202);
	assert_string_equal(field(r.json, "id"), ID_B);
	http_reply_free(&r);
	assert_int_equal(call(f, key, "GET", "/v1/invocations/" ID_B, NULL, 0, NULL), 200);

	static const char *const bad[] = { "0123456789ABCDEF0123456789abcdef", "0123",
					   "0123456789abcdef0123456789abcdefa",
					   "0123456789abcdef0123456789abcdeg" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(invoke(f, key, "/v1/functions/fn/invoke", bad[i], &r), 400);
		assert_string_equal(http_error_code(&r), "bad_parameter");
		http_reply_free(&r);
	}
}

static void test_encrypted_functions(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "t1", key);
	json_t *o;
	assert_int_equal(call(f, key, "PUT", "/v1/functions/sealed?encrypted=true", SCRIPT, 0, &o),
			 201);
	assert_true(json_is_true(json_object_get(o, "encrypted")));
	json_decref(o);
	assert_int_equal(call(f, key, "PUT", "/v1/functions/plain", SCRIPT, 0, &o), 201);
	assert_true(json_is_false(json_object_get(o, "encrypted")));
	json_decref(o);
	expect_error(f, key, "PUT", "/v1/functions/x?encrypted=yes", SCRIPT, 400, "bad_parameter");
	assert_int_equal(call(f, key, "GET", "/v1/functions/sealed", NULL, 0, &o), 200);
	assert_true(json_is_true(json_object_get(o, "encrypted")));
	json_decref(o);
	/* A new version is encrypted only when it says so. */
	assert_int_equal(call(f, key, "PUT", "/v1/functions/sealed", SCRIPT, 0, &o), 201);
	assert_true(json_is_false(json_object_get(o, "encrypted")));
	json_decref(o);

	struct http_reply r;
	assert_int_equal(invoke(f, key, "/v1/functions/sealed/invoke?version=1", NULL, &r), 400);
	assert_string_equal(http_error_code(&r), "bad_request");
	assert_string_equal(error_message(r.json),
			    "an encrypted function needs X-Ditto-Invocation-Id: the id is sealed "
			    "into the request");
	http_reply_free(&r);
	/* With one it runs (here: no host to run it on). */
	assert_int_equal(invoke(f, key, "/v1/functions/sealed/invoke?version=1", ID_A, &r), 503);
	assert_string_equal(http_error_code(&r), "no_capacity");
	http_reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_tenant_options),      FIXTURE_TEST(test_snp_needs_capable_host),
		FIXTURE_TEST(test_attestation_errors),  FIXTURE_TEST(test_invocation_id),
		FIXTURE_TEST(test_encrypted_functions), FIXTURE_TEST(test_tenant_host_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
