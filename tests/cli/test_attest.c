/* `ditto attest` offline, run as the built binary on the real SEV-SNP
 * samples of tests/data/snp: a genuine report verifies (exit 0, what it
 * proved on stdout), a tampered or expired one fails with its code in one
 * line on stderr, --json has the documented shape, bad command lines are
 * usage errors. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>

#include "encoding.h"
#include "snp_verify.h"
#include "support/files.h"
#include "support/procs.h"
#include "util.h"

#define AT "1735000000"
#define V01 "v01_virtee_milan_v2/"
#define V01_MEASUREMENT                                                                       \
	"7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b" \
	"9c480cd81841f"

struct run {
	int status;
	char *out, *err;
};

static char scratch[256];

static int setup(void **state)
{
	return scratch_dir(scratch, sizeof(scratch), "attest");
}

static int teardown(void **state)
{
	return remove_tree(scratch);
}

/* The path of a sample (static storage, one of a few at a time). */
static const char *data(const char *name)
{
	static char paths[4][4096];
	static int next;
	const char *dir = getenv("DITTO_TESTDATA");
	char *p = paths[next++ % 4];
	snprintf(p, 4096, "%s/snp/%s", dir ? dir : "tests/data", name);
	return p;
}

static char *slurp(const char *path)
{
	void *d;
	size_t n;
	return file_read_all(path, &d, &n) == 0 ? d : strdup("");
}

/* Runs `ditto attest ARGS...` (NULL-terminated) and collects what it printed. */
static struct run attest(const char *first, ...)
{
	const char *args[32] = { NULL, "attest" };
	char bin[4096], out[512], err[512];
	snprintf(bin, sizeof(bin), "%s/ditto", test_build_dir());
	args[0] = bin;
	size_t n = 2;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
		args[n++] = a;
	va_end(ap);
	snprintf(out, sizeof(out), "%s/out", scratch);
	snprintf(err, sizeof(err), "%s/err", scratch);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0)
			_exit(126);
		/* No controller is involved: make sure none is configured. */
		unsetenv("DITTO_URL");
		execv(bin, (char *const *)args);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_not_equal(WEXITSTATUS(st), 127);
	return (struct run){ WEXITSTATUS(st), slurp(out), slurp(err) };
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* stderr is exactly one line, holding want. */
static void one_error_line(const struct run *r, const char *want)
{
	if (!strstr(r->err, want))
		fail_msg("stderr lacks \"%s\": %s", want, r->err);
	char *nl = strchr(r->err, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
}

static void test_genuine_verifies(void **state)
{
	struct run r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"),
			      "--measurement", V01_MEASUREMENT, "--min-tcb", "snp=8,ucode=115",
			      "--at", AT, NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "milan, signed by the VCEK"));
	assert_non_null(strstr(r.out, V01_MEASUREMENT));
	assert_non_null(strstr(r.out, "bl=3 tee=0 snp=8 ucode=115"));
	assert_non_null(strstr(r.out, "Result:"));
	assert_non_null(strstr(r.out, "verified"));
	run_free(&r);

	/* Azure's HCL report, with the VCEK+ASK+ARK bundle and the chain given. */
	r = attest("--report", data("v05_azure_milan_v2/hcl_report.bin"), "--vcek",
		   data("v05_azure_milan_v2/vcek_ask_ark_chain.pem"), "--chain",
		   data("certs/milan/cert_chain.pem"), "--product", "milan", "--at", AT, NULL);
	assert_int_equal(r.status, 0);
	run_free(&r);
}

/* A flipped REPORT_DATA byte; the VLEK expired; Genoa's roots; a wrong
 * measurement: exit 1 and the code. */
static void test_failures(void **state)
{
	void *p;
	size_t n;
	assert_int_equal(file_read_all(data(V01 "report.bin"), &p, &n), 0);
	((uint8_t *)p)[0x50] ^= 1;
	char tampered[512];
	snprintf(tampered, sizeof(tampered), "%s/tampered.bin", scratch);
	FILE *f = fopen(tampered, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
	free(p);
	struct run r = attest("--report", tampered, "--vcek", data(V01 "vcek.der"), "--at", AT,
			      NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "bad_signature");
	assert_non_null(strstr(r.out, "FAILED"));
	run_free(&r);

	r = attest("--report", data("v04_trustee_milan_v3_vlek/report.bin"), "--vcek",
		   data("v04_trustee_milan_v3_vlek/vlek.der"), NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "certificate_expired");
	run_free(&r);

	r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"), "--chain",
		   data("certs/genoa/cert_chain.pem"), "--at", AT, NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "untrusted_root");
	run_free(&r);

	char wrong[] = V01_MEASUREMENT;
	wrong[0] = '8';
	r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"),
		   "--measurement", wrong, "--at", AT, NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "measurement_mismatch");
	run_free(&r);
}

static void test_json(void **state)
{
	struct run r = attest("--report", data(V01 "report.bin"), "--vcek", data(V01 "vcek.der"),
			      "--measurement", V01_MEASUREMENT, "--at", AT, "--json", NULL);
	assert_int_equal(r.status, 0);
	json_error_t e;
	json_t *o = json_loads(r.out, 0, &e);
	if (!o)
		fail_msg("not JSON: %s: %s", e.text, r.out);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_object_get(o, "code")), "ok");
	assert_string_equal(json_string_value(json_object_get(o, "product")), "milan");
	assert_string_equal(json_string_value(json_object_get(o, "signer")), "vcek");
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "measurement")), V01_MEASUREMENT);
	assert_string_equal(json_string_value(json_object_get(o, "policy")), "0x30000");
	assert_int_equal(strlen(json_string_value(json_object_get(o, "report_data"))), 128);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "chip_id"))), 128);
	json_t *tcb = json_object_get(o, "reported_tcb");
	assert_string_equal(json_string_value(json_object_get(tcb, "raw")), "0x7308000000000003");
	assert_int_equal(json_integer_value(json_object_get(tcb, "snp")), 8);
	json_t *checks = json_object_get(o, "checks");
	assert_string_equal(json_string_value(json_object_get(checks, "signature")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "chain")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "hwid")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "measurement")), "ok");
	assert_string_equal(json_string_value(json_object_get(checks, "report_data")),
			    "not_checked");
	json_decref(o);
	run_free(&r);

	/* A failure is JSON too, with its code and the checks not reached. */
	r = attest("--report", data(V01 "report.bin"), "--vcek",
		   data("v02_gosevguest_milan_v2/vcek.der"), "--at", AT, "--json", NULL);
	assert_int_equal(r.status, 1);
	o = json_loads(r.out, 0, &e);
	assert_non_null(o);
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_object_get(o, "code")), "bad_signature");
	checks = json_object_get(o, "checks");
	assert_string_equal(json_string_value(json_object_get(checks, "signature")), "failed");
	assert_string_equal(json_string_value(json_object_get(checks, "tcb_extensions")),
			    "not_reached");
	json_decref(o);
	one_error_line(&r, "bad_signature");
	run_free(&r);
}

static void test_usage_errors(void **state)
{
	static const char *const cases[][6] = {
		{ "--report", "x.bin", NULL },
		{ "--vcek", "x.der", NULL },
		{ "--report", "x", "--vcek", "y", "--min-tcb", "snp=999" },
		{ "--report", "x", "--vcek", "y", "--product", "rome" },
		{ "--report", "x", "--vcek", "y", "--measurement", "abc" },
		{ "--report", "x", "--vcek", "y", "--at", "yesterday" },
		{ "acme", "--report", "x", "--vcek", "y", NULL },
		{ "acme", "--report-data", "00", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *c = cases[i];
		struct run r = attest(c[0], c[1], c[2], c[3], c[4], c[5], NULL);
		if (r.status != 2)
			fail_msg("case %zu: exit %d: %s", i, r.status, r.err);
		one_error_line(&r, "ditto attest: ");
		run_free(&r);
	}
	/* A missing file is a local failure. */
	struct run r = attest("--report", "/nonexistent", "--vcek", data(V01 "vcek.der"), NULL);
	assert_int_equal(r.status, 1);
	one_error_line(&r, "/nonexistent");
	run_free(&r);
}

/* ---- online: a stand-in controller answering the attestation route ---------------------- */

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
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body,
								    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result r = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return r;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genuine_verifies),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_online_none),
		cmocka_unit_test(test_online_snp),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
