/* End-to-end encryption, proved on the platform `ditto up` started (its
 * agent copying every byte of its guest channels): a function deployed
 * --encrypted and invoked --encrypted returns the right result to the
 * client, while two canaries, one in the function's code and one in its
 * input, appear nowhere on the host: not in the controller's database, its
 * log, the agent's log and data, nor in what the agent relayed to and from
 * the guest. */
#include "cli.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "encoding.h"
#include "util.h"

#define NOT_CONFIDENTIAL "NOT CONFIDENTIAL: evidence type none (no SEV-SNP hardware)"

/* The two canaries of this run, random so that no earlier run's bytes can
 * stand in for them. */
struct canaries {
	char code[48], input[48];
};

static void canary_make(char *out, size_t size, const char *what)
{
	uint8_t raw[16];
	char hex[33];
	assert_int_equal(getrandom(raw, sizeof(raw), 0), (ssize_t)sizeof(raw));
	bytes_to_hex(raw, sizeof(raw), hex);
	snprintf(out, size, "%s-%s", what, hex);
}

/* Is needle in data, as it is or base64-encoded at any of the three
 * alignments (the controller keeps binary payloads as base64)? */
static bool has_bytes(const char *data, size_t len, const char *needle)
{
	if (memmem(data, len, needle, strlen(needle)))
		return true;
	for (size_t shift = 0; shift < 3; shift++) {
		char in[64];
		snprintf(in, sizeof(in), "%.*s%s", (int)shift, "xx", needle);
		char *b64 = base64_encode((const uint8_t *)in, strlen(in));
		assert_non_null(b64);
		/* The characters that depend on the canary alone. */
		size_t skip = shift ? 4 : 0, n = strlen(b64) - skip - 4;
		bool found = memmem(data, len, b64 + skip, n) != NULL;
		free(b64);
		if (found)
			return true;
	}
	return false;
}

static const struct canaries *scan_for;
static int scanned;

/* Fails when a file under the platform's folder holds a canary. */
static int scan_file(const char *path, const struct stat *st, int type, struct FTW *f)
{
	void *data;
	size_t len;
	if (type != FTW_F || !S_ISREG(st->st_mode) || file_read_all(path, &data, &len) < 0)
		return 0;
	if (has_bytes(data, len, scan_for->code) || has_bytes(data, len, scan_for->input))
		fail_msg("a canary is in %s", path);
	free(data);
	scanned++;
	return 0;
}

/* Checks that path exists and holds no canary; returns its size. */
static size_t clean_file(const struct canaries *c, const char *path)
{
	void *data;
	size_t len;
	if (file_read_all(path, &data, &len) < 0)
		fail_msg("cannot read %s", path);
	if (has_bytes(data, len, c->code) || has_bytes(data, len, c->input))
		fail_msg("a canary is in %s", path);
	free(data);
	return len;
}

/* The files the proof names, then everything else under the platform's
 * folder (the controller's data, the agent's data, the logs). */
static void expect_no_canary(const struct canaries *c)
{
	char path[512];
	const char *named[] = { "controller.log", "agent.log", "controller/ditto.db" };
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", S.plat_dir, named[i]);
		assert_true(clean_file(c, path) > 0);
	}
	/* The agent copied both directions of the tenant's channels. */
	DIR *d = opendir(S.wire_dir);
	assert_non_null(d);
	size_t to = 0, from = 0;
	for (struct dirent *e; (e = readdir(d));) {
		snprintf(path, sizeof(path), "%s/%s", S.wire_dir, e->d_name);
		if (strstr(e->d_name, ".to-guest"))
			to += clean_file(c, path);
		else if (strstr(e->d_name, ".from-guest"))
			from += clean_file(c, path);
	}
	closedir(d);
	assert_true(to > 0 && from > 0);
	scan_for = c;
	scanned = 0;
	assert_int_equal(nftw(S.plat_dir, scan_file, 16, FTW_PHYS), 0);
	assert_true(scanned >= 5);
}

/* ditto on the platform with the tenant secret and the tenant named. */
static void e2e_run(struct run *r, const char *key_file, const char *const *argv)
{
	char url[160], k[160], e2e[300];
	snprintf(url, sizeof(url), "DITTO_URL=%s", S.plat_url);
	snprintf(k, sizeof(k), "DITTO_KEY=%s", S.plat_key);
	snprintf(e2e, sizeof(e2e), "DITTO_E2E_KEY=%s", key_file);
	const char *env[] = { url, k, e2e, "DITTO_TENANT=acme", "DITTO_ENV=/nonexistent", NULL };
	run_env(r, env, NULL, argv);
}

/* The secret: made by the first encrypted deploy, 64 hex digits, 0600. */
static void deploy_encrypted(const struct canaries *c, const char *key_file)
{
	char art[160], script[256];
	snprintf(art, sizeof(art), "%s/e2e.sh", S.dir);
	snprintf(script, sizeof(script), "#!/bin/sh\necho '%s' >&2\nprintf '%%s ' '%s'\ncat\n",
		 c->code, c->code);
	write_text(art, script, 0755);
	struct run r;
	PLAT(&r, S.plat_key, "deploy", "sealed", art, "--encrypted", "--e2e-key", key_file);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "deployed sealed version 1, encrypted ("));
	run_free(&r);
	struct stat st;
	assert_int_equal(stat(key_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	char text[80];
	assert_int_equal(file_read_text(key_file, text, sizeof(text)), 64);
	json_t *fn = plat_json(S.plat_key, ARGV("get", "sealed", "--json"));
	assert_true(json_is_true(json_object_get(fn, "encrypted")));
	json_decref(fn);
}

/* A synchronous encrypted call prints the plain result; without
 * --encrypted the controller refuses the call. */
static void invoke_encrypted(const struct canaries *c, const char *key_file, const char *input)
{
	struct run r;
	e2e_run(&r, key_file, ARGV("invoke", "sealed", input, "--encrypted"));
	expect_ok(&r);
	char want[256];
	snprintf(want, sizeof(want), "%s %s\n", c->code, input);
	assert_string_equal(r.out, want);
	/* No SEV-SNP here: said once, and the call goes on. */
	assert_true(one_line(r.err));
	assert_non_null(strstr(r.err, NOT_CONFIDENTIAL));
	run_free(&r);

	plat_fails(S.plat_key, 1, "(bad_request, HTTP 400)", ARGV("invoke", "sealed", input));
	PLAT(&r, S.plat_key, "invoke", "sealed", input, "--encrypted");
	expect_error(&r, 2, "--tenant T or $DITTO_TENANT");
	run_free(&r);
}

/* An asynchronous encrypted call's record opens with the secret alone. */
static void record_encrypted(const struct canaries *c, const char *key_file, const char *input)
{
	struct run r;
	e2e_run(&r, key_file, ARGV("invoke", "sealed", input, "--encrypted", "--async"));
	expect_ok(&r);
	char id[64];
	snprintf(id, sizeof(id), "%.*s", (int)strcspn(r.out, "\n"), r.out);
	assert_int_equal(strlen(id), 32);
	run_free(&r);

	/* Sealed as the platform keeps it. */
	json_t *rec = wait_record(id);
	assert_string_equal(json_string_value(json_object_get(rec, "status")), "ok");
	assert_string_equal(json_string_value(json_object_get(rec, "result_encoding")), "base64");
	json_decref(rec);

	PLAT(&r, S.plat_key, "invocation", "get", id, "--e2e-key", key_file, "--json");
	expect_ok(&r);
	rec = out_json(&r);
	char want[256];
	snprintf(want, sizeof(want), "%s %s", c->code, input);
	assert_string_equal(json_string_value(json_object_get(rec, "result")), want);
	snprintf(want, sizeof(want), "%s\n", c->code);
	assert_string_equal(json_string_value(json_object_get(rec, "log")), want);
	/* Sealed by the key the tenant's VM attests to. */
	char vm_key[65];
	snprintf(vm_key, sizeof(vm_key), "%s",
		 json_string_value(json_object_get(rec, "sealed_by")));
	assert_int_equal(strlen(vm_key), 64);
	json_decref(rec);
	run_free(&r);
	json_t *att = plat_json(S.plat_key, ARGV("attest", "acme", "--json"));
	json_t *vm;
	size_t i, found = 0;
	json_array_foreach(json_object_get(att, "vms"), i, vm)
	{
		const char *pub = json_string_value(json_object_get(vm, "public_key"));
		found += pub && strcmp(pub, vm_key) == 0;
	}
	assert_int_equal(found, 1);
	json_decref(att);
	PLAT(&r, S.plat_key, "invocation", "get", id, "--e2e-key", key_file);
	expect_out(&r, "ID:", ARGV("Sealed by:", "VM key ", c->code));
	run_free(&r);
	PLAT(&r, S.plat_key, "logs", id, "--e2e-key", key_file);
	expect_ok(&r);
	assert_string_equal(r.out, want);
	run_free(&r);

	/* Another tenant secret opens nothing. */
	char other[160];
	snprintf(other, sizeof(other), "%s/other.key", S.dir);
	write_text(other, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		   0600);
	plat_fails(S.plat_key, 1, "cannot open the result",
		   ARGV("invocation", "get", id, "--e2e-key", other));
}

/* A failing encrypted function fails as any other, and its sealed log
 * opens with the secret; a plain record shows as it is with the secret. */
static void failure_encrypted(const char *key_file)
{
	char art[160];
	snprintf(art, sizeof(art), "%s/e2e-fail.sh", S.dir);
	write_text(art, "#!/bin/sh\necho 'sealed failure' >&2\nexit 3\n", 0755);
	struct run r;
	PLAT(&r, S.plat_key, "deploy", "sealedfail", art, "--encrypted", "--e2e-key", key_file);
	expect_ok(&r);
	run_free(&r);
	e2e_run(&r, key_file, ARGV("invoke", "sealedfail", "--encrypted"));
	assert_int_equal(r.status, 4);
	const char *at = strstr(r.err, "(function_error, HTTP 502, invocation ");
	assert_non_null(at);
	char id[64];
	snprintf(id, sizeof(id), "%.32s", at + strlen("(function_error, HTTP 502, invocation "));
	run_free(&r);
	PLAT(&r, S.plat_key, "logs", id, "--e2e-key", key_file);
	expect_ok(&r);
	assert_string_equal(r.out, "sealed failure\n");
	run_free(&r);
	PLAT(&r, S.plat_key, "logs", id);
	expect_ok(&r);
	assert_null(strstr(r.out, "sealed failure"));
	run_free(&r);

	json_t *o = plat_json(S.plat_key, ARGV("invoke", "echo", "--data", "{\"p\":1}", "--json"));
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "id")));
	json_decref(o);
	PLAT(&r, S.plat_key, "invocation", "get", id, "--e2e-key", key_file);
	expect_out(&r, "ID:", ARGV("{\"p\":1}"));
	assert_null(strstr(r.out, "Sealed by:"));
	run_free(&r);
}

void test_e2e(void **state)
{
	struct canaries c;
	canary_make(c.code, sizeof(c.code), "code");
	canary_make(c.input, sizeof(c.input), "input");
	char key_file[160], input[128];
	snprintf(key_file, sizeof(key_file), "%s/tenant.e2e-key", S.dir);
	snprintf(input, sizeof(input), "{\"canary\":\"%s\"}", c.input);

	deploy_encrypted(&c, key_file);
	invoke_encrypted(&c, key_file, input);
	record_encrypted(&c, key_file, input);
	failure_encrypted(key_file);
	expect_no_canary(&c);
}
