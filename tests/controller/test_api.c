/* End-to-end tests of the controller's HTTP API (api_fixture.h): auth,
 * routes, tenants, scaling, functions and restarts. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "api_client.h"
#include "controller_int.h"
#include "sha256.h"
#include "support/files.h"
#include "support/procs.h"
#include "util.h"

#include "api_fixture.h"

static void test_auth(void **state)
{
	struct fixture *f = *state;
	json_t *o;
	assert_int_equal(call(f, NULL, "GET", "/healthz", NULL, 0, &o), 200);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	json_decref(o);
	assert_int_equal(call(f, NULL, "GET", "/v1/tenants", NULL, 0, &o), 401);
	assert_string_equal(error_code(o), "unauthorized");
	json_decref(o);
	assert_int_equal(call(f, "dk_0000000000000000000000000000000000000000", "GET",
			      "/v1/tenants", NULL, 0, NULL),
			 401);
	assert_int_equal(call(f, "garbage", "GET", "/v1/functions", NULL, 0, NULL), 401);
	assert_int_equal(call(f, f->admin, "GET", "/v1/nothing", NULL, 0, &o), 404);
	assert_string_equal(error_code(o), "not_found");
	json_decref(o);
	assert_int_equal(call(f, f->admin, "DELETE", "/v1/tenants", NULL, 0, NULL), 405);
}

/* GETs path with the Authorization header value auth, as it is. Returns
 * the status. */
static long raw_get(struct fixture *f, const char *path, const char *auth)
{
	char url[512], header[256];
	snprintf(url, sizeof(url), "%s%s", f->proc.url, path);
	snprintf(header, sizeof(header), "Authorization: %s", auth);
	CURL *h = curl_easy_init();
	assert_non_null(h);
	struct curl_slist *hs = curl_slist_append(NULL, header);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
	FILE *null = fopen("/dev/null", "w");
	curl_easy_setopt(h, CURLOPT_WRITEDATA, null);
	long status = -1;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	fclose(null);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	return status;
}

/* The scheme of an Authorization header is case-insensitive (RFC 7235). */
static void test_bearer_scheme(void **state)
{
	struct fixture *f = *state;
	char auth[256];
	snprintf(auth, sizeof(auth), "bearer %s", f->admin);
	assert_int_equal(raw_get(f, "/v1/tenants", auth), 200);
	snprintf(auth, sizeof(auth), "BEARER %s", f->admin);
	assert_int_equal(raw_get(f, "/v1/tenants", auth), 200);
	snprintf(auth, sizeof(auth), "Basic %s", f->admin);
	assert_int_equal(raw_get(f, "/v1/tenants", auth), 401);
	assert_int_equal(raw_get(f, "/v1/tenants", "Bearer "), 401);
}

/* A path that is not UTF-8, or whose echo in the message would be cut in
 * the middle of a character, still gets its 404 as a JSON error. */
static void test_error_bodies_are_utf8(void **state)
{
	struct fixture *f = *state;
	json_t *o = NULL;
	assert_int_equal(call(f, f->admin, "GET", "/%FF", NULL, 0, &o), 404);
	assert_non_null(o);
	assert_string_equal(error_code(o), "not_found");
	json_decref(o);
	/* "/v1/x" then 150 two-byte characters: the message keeps 200 bytes of
	 * the path, which ends inside one. */
	char path[1024] = "/v1/x";
	for (int i = 0; i < 150; i++)
		strcat(path, "%C3%A9");
	o = NULL;
	assert_int_equal(call(f, f->admin, "GET", path, NULL, 0, &o), 404);
	assert_non_null(o);
	assert_string_equal(error_code(o), "not_found");
	const char *msg = json_string_value(
		json_object_get(json_object_get(o, "error"), "message"));
	assert_non_null(msg);
	assert_non_null(strstr(msg, "/v1/x\xc3\xa9\xc3\xa9"));
	json_decref(o);
	/* A bad tenant name in a path with a bad method: the name is refused first. */
	assert_int_equal(call(f, f->admin, "PATCH", "/v1/tenants/%FF", NULL, 0, &o), 400);
	assert_string_equal(error_code(o), "bad_name");
	json_decref(o);
}

/* The route table: one row per method and pattern. */
static void test_route_lookup(void **state)
{
	const struct api_route *row = NULL;
	struct httpd_args args;
	assert_int_equal(api_route_lookup("GET", "/healthz", &row, &args), 0);
	assert_int_equal(row->auth, API_AUTH_NONE);
	assert_int_equal(api_route_lookup("", "/healthz", &row, &args), -EPERM);
	assert_int_equal(api_route_lookup(NULL, "/healthz", &row, &args), -EPERM);
	assert_int_equal(api_route_lookup("POST", "/v1/functions/f1/invoke", &row, &args), 0);
	assert_int_equal(row->auth, API_AUTH_TENANT);
	assert_int_equal(row->body_max, 6u << 20);
	assert_int_equal(args.n, 1);
	assert_int_equal(args.v[0].len, 2);
	assert_memory_equal(args.v[0].p, "f1", 2);
	assert_int_equal(api_route_lookup("PUT", "/v1/functions/f1", &row, &args), 0);
	assert_true(row->body_max == API_BODY_ARTIFACT);
	assert_int_equal(api_route_lookup("GET", "/v1/functions/f1/invoke", &row, &args), -EPERM);
	assert_int_equal(args.n, 1);
	assert_int_equal(api_route_lookup("DELETE", "/v1/hosts/h1/drain", &row, &args), 0);
	assert_int_equal(row->auth, API_AUTH_ADMIN);
	assert_int_equal(api_route_lookup("GET", "/v1/tenants/t1/nothing", &row, &args), -ENOENT);
	assert_int_equal(api_route_lookup("GET", "/v1/tenants/", &row, &args), -ENOENT);
}

static void test_tenants(void **state)
{
	struct fixture *f = *state;
	char k1[128];
	make_tenant(f, "t1", k1);
	json_t *o;
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants", "{\"name\":\"t1\"}", 0, &o), 409);
	assert_string_equal(error_code(o), "exists");
	json_decref(o);
	assert_int_equal(
		call(f, f->admin, "POST", "/v1/tenants", "{\"name\":\"Bad Name\"}", 0, NULL), 400);
	assert_int_equal(call(f, f->admin, "POST", "/v1/tenants", "{not json", 0, &o), 400);
	assert_string_equal(error_code(o), "bad_json");
	json_decref(o);
	/* A tenant key cannot act as an admin, nor for another tenant. */
	assert_int_equal(call(f, k1, "POST", "/v1/tenants", "{\"name\":\"t9\"}", 0, &o), 403);
	assert_string_equal(error_code(o), "forbidden");
	json_decref(o);
	char k2[128];
	make_tenant(f, "t2", k2);
	assert_int_equal(call(f, k1, "POST", "/v1/tenants/t2/keys", NULL, 0, NULL), 403);
	/* A tenant makes a second key of its own, which works. */
	assert_int_equal(call(f, k1, "POST", "/v1/tenants/t1/keys", NULL, 0, &o), 201);
	char k1b[128];
	snprintf(k1b, sizeof(k1b), "%s", json_string_value(json_object_get(o, "key")));
	assert_int_equal(strncmp(k1b, json_string_value(json_object_get(o, "key_id")), 15), 0);
	json_decref(o);
	assert_int_equal(call(f, k1b, "GET", "/v1/functions", NULL, 0, NULL), 200);
	/* Scaling: admin only, validated. */
	assert_int_equal(call(f, k1, "PUT", "/v1/tenants/t1/scaling", "{\"max\":8}", 0, NULL), 403);
	assert_int_equal(
		call(f, f->admin, "PUT", "/v1/tenants/t1/scaling",
		     "{\"min\":1,\"max\":8,\"mechanism\":\"precreated\",\"policy\":\"fixed:2\"}", 0,
		     &o),
		200);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "scaling"), "max")),
			 8);
	json_decref(o);
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/t1/scaling", "{\"min\":9,\"max\":8}",
			      0, NULL),
			 400);
	assert_int_equal(
		call(f, f->admin, "PUT", "/v1/tenants/nobody/scaling", "{\"max\":8}", 0, NULL),
		404);
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants", NULL, 0, &o), 200);
	json_t *ts = json_object_get(o, "tenants");
	assert_int_equal(json_array_size(ts), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ts, 0), "name")),
			    "t1");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(json_array_get(ts, 0), "scaling"),
						  "mechanism")),
		"precreated");
	json_decref(o);
}

/* The API takes every policy lib/policy parses but manual, and refuses the
 * rest with the grammar in the error; a standby needs precreated VMs.
 * GET shows a tenant without VMs with an empty set and no vCPU-seconds. */
static void test_scaling_policies(void **state)
{
	struct fixture *f = *state;
	char k1[128], body[160];
	make_tenant(f, "p1", k1);
	static const char *const good[] = { "elastic",       "elastic:500",   "elastic:0:standby=1",
					    "periodic:1000", "fixed:1",       "fixed:max",
					    "scale-out",     "scale-out:1000" };
	static const char *const bad[] = { "manual",  "periodic",   "fixed:-1", "scale-out:x",
					   "Elastic", "elastic: 5", "" };
	json_t *o;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(body, sizeof(body), "{\"policy\":\"%s\"}", good[i]);
		assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/p1/scaling", body, 0, &o),
				 200);
		assert_string_equal(
			json_string_value(json_object_get(json_object_get(o, "scaling"), "policy")),
			good[i]);
		json_decref(o);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(body, sizeof(body), "{\"policy\":\"%s\"}", bad[i]);
		assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/p1/scaling", body, 0, &o),
				 400);
		json_t *e = json_object_get(o, "error");
		assert_string_equal(json_string_value(json_object_get(e, "code")), "bad_field");
		assert_non_null(strstr(json_string_value(json_object_get(e, "message")),
				       "scale-out[:KEEPALIVE_MS]"));
		json_decref(o);
	}
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/p1/scaling",
			      "{\"mechanism\":\"hotplug\",\"policy\":\"elastic:standby=2\"}", 0,
			      &o),
			 400);
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(o, "error"), "message")),
		       "precreated"));
	json_decref(o);
	assert_int_equal(call(f, f->admin, "PUT", "/v1/tenants/p1/scaling",
			      "{\"max\":2,\"policy\":\"elastic:standby=3\"}", 0, NULL),
			 400);
	assert_int_equal(call(f, k1, "GET", "/v1/tenants/p1", NULL, 0, &o), 200);
	assert_true(json_is_null(json_object_get(o, "vm")));
	assert_int_equal(json_array_size(json_object_get(o, "vms")), 0);
	assert_true(json_number_value(json_object_get(json_object_get(o, "vcpu_s"), "busy")) ==
		    0.0);
	json_decref(o);
}

static const char SCRIPT1[] = "#!/bin/sh\necho '{\"v\":1}'\n";
static const char SCRIPT2[] = "#!/bin/sh\necho '{\"v\":2}'\n";

static void test_functions(void **state)
{
	struct fixture *f = *state;
	char k1[128], k2[128];
	make_tenant(f, "alice", k1);
	make_tenant(f, "bob", k2);
	json_t *o;
	char digest1[SHA256_HEX_SIZE], digest2[SHA256_HEX_SIZE];
	sha256_hex(SCRIPT1, strlen(SCRIPT1), digest1);
	sha256_hex(SCRIPT2, strlen(SCRIPT2), digest2);

	assert_int_equal(call(f, k1, "PUT", "/v1/functions/hello?timeout=1000&mode=persistent",
			      SCRIPT1, 0, &o),
			 201);
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), digest1);
	assert_int_equal(json_integer_value(json_object_get(o, "size")), strlen(SCRIPT1));
	json_t *lim = json_object_get(o, "limits");
	assert_int_equal(json_integer_value(json_object_get(lim, "timeout_ms")), 1000);
	assert_int_equal(json_integer_value(json_object_get(lim, "memory_mib")), 256);
	assert_int_equal(json_integer_value(json_object_get(lim, "max_concurrency")), 10);
	assert_string_equal(json_string_value(json_object_get(lim, "mode")), "persistent");
	json_decref(o);
	/* The artifact is stored under its digest. */
	char path[256];
	snprintf(path, sizeof(path), "%s/artifacts/%s", f->dir, digest1);
	void *bytes;
	size_t len;
	assert_int_equal(file_read_all(path, &bytes, &len), 0);
	assert_int_equal(len, strlen(SCRIPT1));
	assert_memory_equal(bytes, SCRIPT1, len);
	free(bytes);

	o = call_version(f, k1, "PUT", "/v1/functions/hello", SCRIPT2, 201, 2);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), digest2);
	json_decref(o);

	json_decref(call_version(f, k1, "GET", "/v1/functions/hello", NULL, 200, 2));
	o = call_version(f, k1, "GET", "/v1/functions/hello?version=1", NULL, 200, 1);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), digest1);
	json_decref(o);
	assert_int_equal(call(f, k1, "GET", "/v1/functions/hello?version=9", NULL, 0, NULL), 404);
	assert_int_equal(call(f, k1, "GET", "/v1/functions/hello?version=x", NULL, 0, NULL), 400);
	assert_int_equal(call(f, k1, "GET", "/v1/functions", NULL, 0, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "functions")), 1);
	json_decref(o);

	/* Another tenant sees none of it; the admin key is not a tenant key. */
	assert_int_equal(call(f, k2, "GET", "/v1/functions/hello", NULL, 0, NULL), 404);
	assert_int_equal(call(f, k2, "DELETE", "/v1/functions/hello", NULL, 0, NULL), 404);
	assert_int_equal(call(f, k2, "GET", "/v1/functions", NULL, 0, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "functions")), 0);
	json_decref(o);
	assert_int_equal(call(f, f->admin, "GET", "/v1/functions", NULL, 0, NULL), 403);

	/* Bad limits, names and bodies. */
	static const char *const bad[] = {
		"/v1/functions/x?timeout=0",
		"/v1/functions/x?timeout=300001",
		"/v1/functions/x?memory=2049",
		"/v1/functions/x?mode=thread",
		"/v1/functions/x?max_concurrency=1001",
		"/v1/functions/x?bogus=1",
		"/v1/functions/bad%20name",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(call(f, k1, "PUT", bad[i], SCRIPT1, 0, &o), 400);
		json_decref(o);
	}
	assert_int_equal(call(f, k1, "PUT", "/v1/functions/empty", "", 0, NULL), 400);
	size_t big_len = 4097;
	char *big = malloc(big_len);
	assert_non_null(big);
	memset(big, 'a', big_len);
	assert_int_equal(call(f, k1, "PUT", "/v1/functions/big", big, big_len, &o), 413);
	assert_string_equal(error_code(o), "too_large");
	json_decref(o);
	/* The artifact's size is refused before its limits are read. */
	assert_int_equal(call(f, k1, "PUT", "/v1/functions/big?timeout=0", big, big_len, &o), 413);
	assert_string_equal(error_code(o), "too_large");
	json_decref(o);
	free(big);

	assert_int_equal(call(f, k1, "DELETE", "/v1/functions/hello", NULL, 0, NULL), 200);
	assert_int_equal(call(f, k1, "GET", "/v1/functions/hello", NULL, 0, NULL), 404);
	assert_int_equal(call(f, k1, "DELETE", "/v1/functions/hello", NULL, 0, NULL), 404);
}

static void test_restart(void **state)
{
	struct fixture *f = *state;
	char k1[128];
	make_tenant(f, "keep", k1);
	assert_int_equal(call(f, k1, "PUT", "/v1/functions/fn", SCRIPT1, 0, NULL), 201);
	char admin_before[128];
	snprintf(admin_before, sizeof(admin_before), "%s", f->admin);

	assert_int_equal(daemon_proc_stop(&f->proc, SIGTERM, 10000), 0);
	assert_int_equal(start_controller(f), 0);

	/* The same admin key, tenant key and function survive. */
	assert_string_equal(f->admin, admin_before);
	json_t *o;
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants", NULL, 0, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "tenants")), 1);
	json_decref(o);
	json_decref(call_version(f, k1, "GET", "/v1/functions/fn", NULL, 200, 1));
	json_decref(call_version(f, k1, "PUT", "/v1/functions/fn", SCRIPT2, 201, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = { FIXTURE_TEST(test_auth),
					    FIXTURE_TEST(test_bearer_scheme),
					    FIXTURE_TEST(test_error_bodies_are_utf8),
					    cmocka_unit_test(test_route_lookup),
					    FIXTURE_TEST(test_scaling_policies),
					    FIXTURE_TEST(test_tenants),
					    FIXTURE_TEST(test_functions),
					    FIXTURE_TEST(test_restart) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
