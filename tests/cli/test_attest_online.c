/* `ditto attest TENANT` online, run as the built binary against a stand-in
 * controller that answers the attestation route with real SEV-SNP samples:
 * evidence of type none is NOT CONFIDENTIAL (a failure when required), a
 * report is verified here again, and the HOST_DATA expected comes from the
 * tenant secret, else from the tenant's record on the controller. */
#include "attest_run.h"
#include "e2e.h"
#include "reply_json.h"

/* A stand-in controller answering every route with the attestation answer. */
struct fake_att {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	json_t *answer; /* what to answer, its "nonce" set from the request */
	bool wrong_nonce;
	char nonce[256]; /* the nonce the last request asked with */
	char path[256];
};

static enum MHD_Result on_att(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	struct fake_att *f = cls;
	const char *nonce = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "nonce");
	pthread_mutex_lock(&f->lock);
	snprintf(f->nonce, sizeof(f->nonce), "%s", nonce ? nonce : "");
	snprintf(f->path, sizeof(f->path), "%s %s", method, url);
	json_object_set_new(f->answer, "nonce", json_string(f->wrong_nonce ? "00" : f->nonce));
	char *body = json_dumps(f->answer, 0);
	pthread_mutex_unlock(&f->lock);
	return reply_json(conn, body);
}

/* Starts the stand-in with an answer for tenant acme: one VM of type. */
static void fake_start(struct fake_att *f, const char *type, const char *attestation)
{
	*f = (struct fake_att){ 0 };
	pthread_mutex_init(&f->lock, NULL);
	f->answer = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:n, s:n, s:n}]}", "tenant",
			      "acme", "confidential", type, "attestation", attestation, "vms", "vm",
			      "acme", "host", "h1", "type", type, "public_key",
			      "1111111111111111111111111111111111111111111111111111111111111111",
			      "report", "certs", "measurement");
	f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_att, f,
				MHD_OPTION_END);
	assert_non_null(f->d);
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", (unsigned)i->port);
}

static void fake_stop(struct fake_att *f)
{
	MHD_stop_daemon(f->d);
	json_decref(f->answer);
	pthread_mutex_destroy(&f->lock);
}

/* Gives the VM v01's report, with its VCEK in a certificate table when
 * with_certs is true. */
static void fake_set_v01(struct fake_att *f, bool with_certs)
{
	static const uint8_t vcek_guid[16] = { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
					       0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd };
	json_t *vm = json_array_get(json_object_get(f->answer, "vms"), 0);
	void *rep, *der;
	size_t n, m;
	assert_int_equal(file_read_all(data(V01 "report.bin"), &rep, &n), 0);
	assert_int_equal(file_read_all(data(V01 "vcek.der"), &der, &m), 0);
	char *b64 = base64_encode(rep, n);
	json_object_set_new(vm, "report", json_string(b64));
	json_object_set_new(vm, "measurement", json_string(V01_MEASUREMENT));
	free(b64);
	uint8_t *table = calloc(1, 48 + m);
	memcpy(table, vcek_guid, 16);
	table[16] = 48;
	table[20] = (uint8_t)m;
	table[21] = (uint8_t)(m >> 8);
	memcpy(table + 48, der, m);
	b64 = base64_encode(table, 48 + m);
	if (with_certs)
		json_object_set_new(vm, "certs", json_string(b64));
	free(b64);
	free(table);
	free(rep);
	free(der);
}

/* Evidence of type none: NOT CONFIDENTIAL, a failure only when required. */
static void test_online_none(void **state)
{
	struct fake_att f;
	fake_start(&f, "none", "optional");
	struct run r = attest("acme", "--url", f.url, "--key", "k", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(
		strstr(r.out, "NOT CONFIDENTIAL: evidence type none (no SEV-SNP hardware)"));
	assert_string_equal(f.path, "GET /v1/tenants/acme/attestation");
	assert_int_equal(strlen(f.nonce), 64); /* 32 random bytes */
	run_free(&r);
	r = attest("acme", "--url", f.url, "--key", "k", "--require", "--nonce", "0a0b", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(f.nonce, "0a0b");
	one_error_line(&r, "evidence_none");
	run_free(&r);
	fake_stop(&f);
	fake_start(&f, "none", "required");
	r = attest("acme", "--url", f.url, "--key", "k", NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "the tenant requires attestation");
	run_free(&r);
	/* An answer for another nonce is refused. */
	f.wrong_nonce = true;
	r = attest("acme", "--url", f.url, "--key", "k", NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "not for nonce");
	run_free(&r);
	fake_stop(&f);
}

/* A genuine report re-verified locally: its VCEK from the certificate
 * table (else --vcek, else no_vcek); its REPORT_DATA does not bind this
 * nonce and key, so it fails there, every check before it passing. */
static void test_online_snp(void **state)
{
	struct fake_att f;
	fake_start(&f, "sev-snp", "required");
	fake_set_v01(&f, false);
	struct run r = attest("acme", "--url", f.url, "--key", "k", "--at", AT, NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "no_vcek");
	run_free(&r);
	r = attest("acme", "--url", f.url, "--key", "k", "--at", AT, "--vcek", data(V01 "vcek.der"),
		   NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "report_data_mismatch");
	run_free(&r);
	fake_stop(&f);

	fake_start(&f, "sev-snp", "required");
	fake_set_v01(&f, true);
	r = attest("acme", "--url", f.url, "--key", "k", "--at", AT, "--json", NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "report_data_mismatch");
	json_t *o = json_loads(r.out, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_false(json_object_get(o, "ok")));
	json_t *vm = json_array_get(json_object_get(o, "vms"), 0);
	assert_string_equal(json_string_value(json_object_get(vm, "vm")), "acme");
	assert_string_equal(json_string_value(json_object_get(vm, "code")), "report_data_mismatch");
	json_t *checks = json_object_get(vm, "checks");
	assert_string_equal(json_string_value(json_object_get(checks, "signature")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "chain")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "measurement")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "report_data")), "failed");
	json_decref(o);
	run_free(&r);
	fake_stop(&f);
}

/* Runs attest --json on the stand-in (with --e2e-key key_file unless NULL):
 * the report's REPORT_DATA fails as always; returns its "host_data":
 * {"expected", "from"}. */
static json_t *online_host_data(const struct fake_att *f, const char *key_file)
{
	struct run r = attest("acme", "--url", f->url, "--key", "k", "--at", AT, "--json",
			      key_file ? "--e2e-key" : NULL, key_file, NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "report_data_mismatch");
	json_t *o = json_loads(r.out, 0, NULL);
	assert_non_null(o);
	json_t *hd = json_incref(json_object_get(o, "host_data"));
	assert_true(json_is_object(hd));
	json_decref(o);
	run_free(&r);
	return hd;
}

/* Writes secret (64 hex digits) to path (0600) and returns its commitment,
 * as hex, in want. */
static void secret_file(const char *path, const char *secret, char want[65])
{
	uint8_t key[E2E_KEY_SIZE], hd[SNP_HOST_DATA_SIZE];
	assert_int_equal(file_replace_text(path, secret, 0600, false), 0);
	assert_int_equal(hex_to_bytes(secret, key, sizeof(key)), 0);
	e2e_host_data(key, hd);
	bytes_to_hex(hd, sizeof(hd), want);
}

/* The HOST_DATA expected online: --e2e-key's secret, else the default
 * file's ($HOME/.config/ditto/TENANT.e2e-key), else the tenant's host_data
 * on the controller, else none (not checked, and said so). */
static void test_online_host_data(void **state)
{
	static const char given[] =
		"abababababababababababababababababababababababababababababababab";
	char def[512], key[512], want[65], want_def[65];
	struct fake_att f;
	fake_start(&f, "sev-snp", "optional");
	fake_set_v01(&f, true);
	json_t *hd = online_host_data(&f, NULL);
	assert_true(json_is_null(json_object_get(hd, "expected")));
	assert_non_null(strstr(json_string_value(json_object_get(hd, "from")),
			       "no tenant secret here, and the tenant has no host_data"));
	assert_string_equal(f.path, "GET /v1/tenants/acme");
	json_decref(hd);

	json_object_set_new(f.answer, "host_data", json_string(given));
	hd = online_host_data(&f, NULL);
	assert_string_equal(json_string_value(json_object_get(hd, "expected")), given);
	assert_non_null(strstr(json_string_value(json_object_get(hd, "from")), "controller"));
	json_decref(hd);

	snprintf(def, sizeof(def), "%s/.config/ditto", scratch);
	assert_int_equal(mkdir_parents(def, 0700), 0);
	snprintf(def, sizeof(def), "%s/.config/ditto/acme.e2e-key", scratch);
	secret_file(def, "0101010101010101010101010101010101010101010101010101010101010101",
		    want_def);
	hd = online_host_data(&f, NULL);
	assert_string_equal(json_string_value(json_object_get(hd, "expected")), want_def);
	assert_non_null(strstr(json_string_value(json_object_get(hd, "from")), def));

	snprintf(key, sizeof(key), "%s/other.e2e-key", scratch);
	secret_file(key, "0202020202020202020202020202020202020202020202020202020202020202", want);
	json_decref(hd);
	hd = online_host_data(&f, key);
	assert_string_equal(json_string_value(json_object_get(hd, "expected")), want);
	assert_string_not_equal(want, want_def);
	json_decref(hd);
	fake_stop(&f);
	unlink(def);
	unlink(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_online_none),
		cmocka_unit_test(test_online_snp),
		cmocka_unit_test(test_online_host_data),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
