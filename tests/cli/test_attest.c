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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_genuine_verifies),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
