/* The CLI's end-to-end pieces: where the tenant secret lives, how it is
 * created and which files are refused, and the checks of the controller's
 * attestation answer that decide which VM keys an input is sealed to.
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

#include "../../cli/cli.c"
#include "../../cli/http.c"
#include "../../cli/output.c"
#include "../../cli/sealed.c"
#include "encoding.h"
#include "snp_verify.h"
#include "support/files.h"

static char dir[256];

static int setup(void **state)
{
	return scratch_dir(dir, sizeof(dir), "sealed");
}

static int teardown(void **state)
{
	return remove_tree(dir);
}

static void test_secret_path(void **state)
{
	char p[512];
	setenv("HOME", "/home/u", 1);
	unsetenv("DITTO_E2E_KEY");
	assert_int_equal(sealed_secret_path(NULL, "acme", p, sizeof(p)), 0);
	assert_string_equal(p, "/home/u/.config/ditto/acme.e2e-key");
	assert_int_equal(sealed_secret_path(NULL, NULL, p, sizeof(p)), -ENOKEY);
	/* The environment beats the default, the flag beats both. */
	setenv("DITTO_E2E_KEY", "/env/key", 1);
	assert_int_equal(sealed_secret_path(NULL, "acme", p, sizeof(p)), 0);
	assert_string_equal(p, "/env/key");
	assert_int_equal(sealed_secret_path("/flag/key", "acme", p, sizeof(p)), 0);
	assert_string_equal(p, "/flag/key");
	unsetenv("DITTO_E2E_KEY");
	/* A name that is no tenant's names no file. */
	assert_int_equal(sealed_secret_path(NULL, "../etc", p, sizeof(p)), -EINVAL);
	assert_int_equal(sealed_secret_path(NULL, "Acme", p, sizeof(p)), -EINVAL);
	unsetenv("HOME");
	assert_int_equal(sealed_secret_path(NULL, "acme", p, sizeof(p)), -ENOKEY);
	assert_int_equal(sealed_secret_path("/a/rather/long/path", NULL, p, 8), -ENAMETOOLONG);
}

static void test_secret_create_read(void **state)
{
	char path[400], text[80];
	uint8_t a[E2E_KEY_SIZE], b[E2E_KEY_SIZE];
	snprintf(path, sizeof(path), "%s/new/folder/t.e2e-key", dir);
	assert_int_equal(sealed_secret_create(path, a), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* 64 hex digits and a newline, read back as the same key. */
	assert_int_equal(file_read_text(path, text, sizeof(text)), 64);
	assert_int_equal(strspn(text, "0123456789abcdef"), 64);
	assert_int_equal(sealed_secret_read(path, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	/* Never overwritten. */
	assert_int_equal(sealed_secret_create(path, b), -EEXIST);
	assert_int_equal(sealed_secret_read(path, b), 0);
	assert_memory_equal(a, b, sizeof(a));

	/* Refused: readable by others, not 64 hex digits, absent. */
	chmod(path, 0640);
	assert_int_equal(sealed_secret_read(path, b), -EPERM);
	const char *bad[] = {
		"abc\n", "", "zz90240c5d8b95af443b4392bdc95fe90ae0a70b433fb82f13e50d102ff9610a",
		"e1e0240c5d8b95af443b4392bdc95fe90ae0a70b433fb82f13e50d102ff9610a00",
		"e1e0240c5d8b95af443b4392bdc95fe90ae0a70b433fb82f13e50d102ff9610a\n\n"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(file_replace_text(path, bad[i], 0600, false), 0);
		assert_int_equal(sealed_secret_read(path, b), -EBADMSG);
	}
	/* Upper-case hex and no newline are fine. */
	assert_int_equal(file_replace_text(path,
					   "E1E0240C5D8B95AF443B4392BDC95FE90AE0A70B433FB82F13E50D1"
					   "02FF9610A",
					   0600, false),
			 0);
	assert_int_equal(sealed_secret_read(path, b), 0);
	assert_int_equal(b[0], 0xe1);
	assert_int_equal(b[31], 0x0a);
	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(sealed_secret_read(path, b), -ENOENT);
}

static const uint8_t nonce[SEALED_NONCE_SIZE] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

/* An answer for nonce with no VMs yet. */
static json_t *answer(const char *attestation)
{
	char hex[2 * SEALED_NONCE_SIZE + 1];
	bytes_to_hex(nonce, sizeof(nonce), hex);
	json_t *o = json_pack("{s:s, s:s, s:s, s:[]}", "tenant", "acme", "nonce", hex,
			      "attestation", attestation, "vms");
	assert_non_null(o);
	return o;
}

static void add_none(json_t *att, const char *name, uint8_t key_byte)
{
	uint8_t pub[E2E_KEY_SIZE];
	char hex[2 * E2E_KEY_SIZE + 1];
	memset(pub, key_byte, sizeof(pub));
	bytes_to_hex(pub, sizeof(pub), hex);
	json_array_append_new(json_object_get(att, "vms"),
			      json_pack("{s:s, s:s, s:s, s:n, s:n, s:{s:b, s:s}}", "vm", name,
					"type", "none", "public_key", hex, "report", "measurement",
					"verified", "ok", 0, "code", "evidence_none"));
}

/* Where the SNP ABI's report keeps REPORT_DATA and MEASUREMENT. */
#define REPORT_DATA_AT 0x50
#define MEASUREMENT_AT 0x90

/* A real report (v01 of tests/data/snp), its signature now broken by the
 * fields this test writes. */
static void *real_report(size_t *ret_len)
{
	char path[512];
	const char *d = getenv("DITTO_TESTDATA");
	snprintf(path, sizeof(path), "%s/snp/v01_virtee_milan_v2/report.bin", d ? d : "tests/data");
	void *data = NULL;
	assert_int_equal(file_read_all(path, &data, ret_len), 0);
	assert_true(*ret_len >= SNP_REPORT_SIZE);
	return data;
}

/* A certificate table (GHCB layout) holding v01's VCEK, or only an ASK
 * entry when vcek is false. Returns it as base64. */
static char *cert_table(bool vcek)
{
	char path[512];
	const char *d = getenv("DITTO_TESTDATA");
	snprintf(path, sizeof(path), "%s/snp/v01_virtee_milan_v2/vcek.der", d ? d : "tests/data");
	void *der = NULL;
	size_t len = 0;
	assert_int_equal(file_read_all(path, &der, &len), 0);
	const char *guid = vcek ? SNP_CERT_GUID_VCEK : SNP_CERT_GUID_ASK;
	uint8_t *t = calloc(1, 48 + len);
	assert_non_null(t);
	for (size_t i = 0, o = 0; guid[i]; i++)
		if (guid[i] != '-') {
			char byte[3] = { guid[i], guid[i + 1], 0 };
			t[o++] = (uint8_t)strtoul(byte, NULL, 16);
			i++;
		}
	uint32_t off = 48, n = (uint32_t)len;
	memcpy(t + 16, &off, 4);
	memcpy(t + 20, &n, 4);
	memcpy(t + 48, der, len);
	char *b64 = base64_encode(t, 48 + len);
	free(t);
	free(der);
	return b64;
}

/* A sev-snp entry whose report binds key_byte's key to nonce (when bind)
 * and holds the measurement 0xaa..; verified says what the controller
 * found; certs, when not NULL, is the host's certificate table. */
static void add_snp(json_t *att, uint8_t key_byte, bool bind, const char *meas_hex, bool verified,
		    const char *certs)
{
	uint8_t pub[E2E_KEY_SIZE];
	char hex[2 * E2E_KEY_SIZE + 1];
	size_t len;
	uint8_t *report = real_report(&len);
	memset(pub, key_byte, sizeof(pub));
	bytes_to_hex(pub, sizeof(pub), hex);
	e2e_report_data(nonce, sizeof(nonce), pub, report + REPORT_DATA_AT);
	if (!bind)
		report[REPORT_DATA_AT + 5] ^= 1;
	memset(report + MEASUREMENT_AT, 0xaa, SNP_MEASUREMENT_SIZE);
	char *b64 = base64_encode(report, len);
	json_array_append_new(json_object_get(att, "vms"),
			      json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s, s:{s:b, s:s}}", "vm",
					"acme.1", "type", "sev-snp", "public_key", hex, "report",
					b64, "certs", certs, "measurement", meas_hex, "verified",
					"ok", verified, "code", verified ? "ok" : "bad_signature"));
	free(b64);
	free(report);
}

/* Runs the check expecting host_data (NULL: not checked) and returns its
 * result; the keys in *keys, the failure in err. */
static int check_hd(json_t *att, bool require, const uint8_t *host_data, struct sealed_keys *keys,
		    char err[512])
{
	struct sealed_expect want = { .nonce = nonce,
				      .nonce_len = sizeof(nonce),
				      .host_data = host_data,
				      .require = require };
	err[0] = '\0';
	int r = sealed_keys_check(att, &want, keys, err, 512);
	assert_true(r == 0 ? err[0] == '\0' : err[0] != '\0');
	json_decref(att);
	return r;
}

static int check(json_t *att, bool require, struct sealed_keys *keys)
{
	char err[512];
	return check_hd(att, require, NULL, keys, err);
}

static char meas[2 * SNP_MEASUREMENT_SIZE + 1];

static void test_keys_none(void **state)
{
	struct sealed_keys *k = calloc(1, sizeof(*k));
	json_t *att = answer("optional");
	add_none(att, "acme", 0x11);
	add_none(att, "acme.1", 0x22);
	assert_int_equal(check(att, false, k), 0);
	assert_int_equal(k->n, 2);
	assert_int_equal(k->none, 2);
	assert_int_equal(k->pub[0][0], 0x11);
	assert_int_equal(k->pub[1][31], 0x22);

	/* none where attestation is required, by the caller or the tenant. */
	att = answer("optional");
	add_none(att, "acme", 0x11);
	assert_int_equal(check(att, true, k), -EACCES);
	att = answer("required");
	add_none(att, "acme", 0x11);
	assert_int_equal(check(att, false, k), -EACCES);

	/* No VM, another nonce, a bad key, an unknown type. */
	assert_int_equal(check(answer("optional"), false, k), -ENOENT);
	att = answer("optional");
	json_object_set_new(att, "nonce", json_string("00"));
	add_none(att, "acme", 0x11);
	assert_int_equal(check(att, false, k), -EBADMSG);
	att = answer("optional");
	add_none(att, "acme", 0x11);
	json_object_set_new(json_array_get(json_object_get(att, "vms"), 0), "public_key",
			    json_string("abcd"));
	assert_int_equal(check(att, false, k), -EBADMSG);
	att = answer("optional");
	add_none(att, "acme", 0x11);
	json_object_set_new(json_array_get(json_object_get(att, "vms"), 0), "type",
			    json_string("tdx"));
	assert_int_equal(check(att, false, k), -EBADMSG);
	free(k);
}

static void test_keys_snp(void **state)
{
	struct sealed_keys *k = calloc(1, sizeof(*k));
	uint8_t m[SNP_MEASUREMENT_SIZE];
	memset(m, 0xaa, sizeof(m));
	bytes_to_hex(m, sizeof(m), meas);

	json_t *att = answer("required");
	add_snp(att, 0x33, true, meas, true, NULL);
	assert_int_equal(check(att, false, k), 0);
	assert_int_equal(k->n, 1);
	assert_int_equal(k->none, 0);
	assert_int_equal(k->pub[0][0], 0x33);

	/* The report does not bind this key to this nonce. */
	att = answer("required");
	add_snp(att, 0x33, false, meas, true, NULL);
	assert_int_equal(check(att, false, k), -EACCES);
	/* Another measurement than the VM's expected one. */
	char other[sizeof(meas)];
	memcpy(other, meas, sizeof(meas));
	other[0] = 'b';
	att = answer("required");
	add_snp(att, 0x33, true, other, true, NULL);
	assert_int_equal(check(att, false, k), -EACCES);
	/* The controller's verdict is not ok. */
	att = answer("optional");
	add_snp(att, 0x33, true, meas, false, NULL);
	assert_int_equal(check(att, false, k), -EACCES);
	/* One bad VM of two refuses the whole answer. */
	att = answer("optional");
	add_snp(att, 0x33, true, meas, true, NULL);
	add_snp(att, 0x44, false, meas, true, NULL);
	assert_int_equal(check(att, false, k), -EACCES);
	/* No report at all. */
	att = answer("optional");
	add_snp(att, 0x33, true, meas, true, NULL);
	json_object_set_new(json_array_get(json_object_get(att, "vms"), 0), "report", json_null());
	assert_int_equal(check(att, false, k), -EBADMSG);

	/* With the host's certificates the CLI verifies the report itself:
	 * this one's signature no longer covers what it says, whatever the
	 * controller's verdict. */
	char *certs = cert_table(true);
	att = answer("optional");
	add_snp(att, 0x33, true, meas, true, certs);
	char err[512];
	assert_int_equal(check_hd(att, false, NULL, k, err), -EACCES);
	assert_non_null(strstr(err, "does not verify here (bad_signature"));
	free(certs);
	/* A table without the VCEK. */
	certs = cert_table(false);
	att = answer("optional");
	add_snp(att, 0x33, true, meas, true, certs);
	assert_int_equal(check(att, false, k), -EBADMSG);
	free(certs);
	free(k);
}

/* The real report's HOST_DATA is zeros: the commitment to a tenant secret
 * is not, so such a VM was not launched for it. */
static void test_keys_host_data(void **state)
{
	struct sealed_keys *k = calloc(1, sizeof(*k));
	uint8_t m[SNP_MEASUREMENT_SIZE], zeros[SNP_HOST_DATA_SIZE] = { 0 }, hd[SNP_HOST_DATA_SIZE];
	uint8_t secret[E2E_KEY_SIZE] = { 7 };
	char err[512];
	memset(m, 0xaa, sizeof(m));
	bytes_to_hex(m, sizeof(m), meas);
	e2e_host_data(secret, hd);

	json_t *att = answer("required");
	add_snp(att, 0x33, true, meas, true, NULL);
	assert_int_equal(check_hd(att, false, zeros, k, err), 0);
	assert_int_equal(k->n, 1);
	att = answer("required");
	add_snp(att, 0x33, true, meas, true, NULL);
	assert_int_equal(check_hd(att, false, hd, k, err), -EACCES);
	assert_non_null(strstr(err, "VM acme.1: the report's HOST_DATA is not the commitment"));
	/* Evidence of type none has no HOST_DATA to check. */
	att = answer("optional");
	add_none(att, "acme", 0x11);
	assert_int_equal(check_hd(att, false, hd, k, err), 0);
	free(k);
}

static void test_part_key(void **state)
{
	struct e2e_keypair vm, client;
	assert_int_equal(e2e_keypair_generate(&vm), 0);
	assert_int_equal(e2e_keypair_generate(&client), 0);
	struct e2e_aad aad = { "0123456789abcdef0123456789abcdef", "ab" };
	uint8_t *part = NULL, key[E2E_KEY_SIZE];
	size_t len = 0;
	assert_int_equal(
		e2e_response_seal(&vm, client.pub, &aad, E2E_PART_LOG, "x", 1, &part, &len), 0);
	assert_int_equal(sealed_part_key(part, len, key), 0);
	assert_memory_equal(key, vm.pub, sizeof(key));
	assert_int_equal(sealed_part_key(part, 20, key), -EBADMSG);
	assert_int_equal(
		sealed_part_key((const uint8_t *)"{\"plain\": \"json result, long enough to "
						 "be a sealed part if it were one\"}",
				70, key),
		-EBADMSG);
	free(part);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_path),    cmocka_unit_test(test_secret_create_read),
		cmocka_unit_test(test_keys_none),      cmocka_unit_test(test_keys_snp),
		cmocka_unit_test(test_keys_host_data), cmocka_unit_test(test_part_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
