/* tenant create, scale and tenant get with a confidential tenant's
 * host_data: the commitment sent is e2e_host_data of the tenant secret
 * (the secret created where it is missing, as deploy --encrypted does), or
 * --host-data as given; both flags, a bad value or an unusable secret are
 * refused with one line before any request. The commands run in this
 * process against a stand-in controller that records what it was sent.
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
#include "reply_json.h"
#include "support/files.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define HD_UPPER "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
#define HD_LOWER "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char dir[256];

/* The stand-in controller: answers every request with the tenant it was
 * sent (and a key), and keeps the last request. */
struct fake {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	int requests;
	char request[300]; /* "METHOD PATH" */
	json_t *body;      /* the last request's body, or NULL */
};

static struct fake F;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct fake *f = cls;
	struct buf *in = *con_cls;
	if (!in) {
		*con_cls = calloc(1, sizeof(struct buf));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		buf_append(in, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	json_t *body = json_loadb((const char *)in->data, in->len, 0, NULL);
	buf_free(in);
	free(in);
	*con_cls = NULL;
	json_t *answer = json_pack("{s:s, s:s, s:O?, s:{s:i, s:i, s:s, s:s}}", "name", "acme",
				   "key", "tenant-key-1", "host_data",
				   json_object_get(body, "host_data"), "scaling", "min", 0, "max",
				   2, "mechanism", "precreated", "policy", "elastic");
	pthread_mutex_lock(&f->lock);
	f->requests++;
	snprintf(f->request, sizeof(f->request), "%s %s", method, url);
	json_decref(f->body);
	f->body = body;
	pthread_mutex_unlock(&f->lock);
	char *text = json_dumps(answer, 0);
	json_decref(answer);
	return reply_json(conn, text);
}

static int setup(void **state)
{
	if (scratch_dir(dir, sizeof(dir), "tenant") < 0)
		return -1;
	pthread_mutex_init(&F.lock, NULL);
	F.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, &F,
			       MHD_OPTION_END);
	if (!F.d)
		return -1;
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(F.d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(F.url, sizeof(F.url), "http://127.0.0.1:%u", (unsigned)i->port);
	/* No secret of the machine's user is ever read or made. */
	setenv("HOME", dir, 1);
	unsetenv("DITTO_E2E_KEY");
	return 0;
}

static int teardown(void **state)
{
	MHD_stop_daemon(F.d);
	json_decref(F.body);
	pthread_mutex_destroy(&F.lock);
	return remove_tree(dir);
}

/* What one command did: its exit code, its stderr (without its last
 * newline), and the request the controller got (body NULL when none
 * came). */
struct ran {
	int code;
	char err[1024];
	json_t *body;
	char request[300];
};

/* Runs a command (argv NULL-terminated, argv[0] its last word) in this
 * process, its stdout and stderr into files. */
static struct ran run(const struct cli_command *cmd, const char *const *args)
{
	char *argv[16], out[300], err[300];
	int argc = 0;
	while (args[argc] && argc < 15) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	snprintf(out, sizeof(out), "%s/stdout", dir);
	snprintf(err, sizeof(err), "%s/stderr", dir);
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	assert_true(freopen(out, "w", stdout) != NULL);
	assert_true(freopen(err, "w", stderr) != NULL);
	pthread_mutex_lock(&F.lock);
	int before = F.requests;
	pthread_mutex_unlock(&F.lock);

	struct cli cli = { .url = F.url, .key = "admin-key" };
	optind = 0;
	struct ran r = { .code = cmd->run(&cli, cmd, argc, argv) };
	http_client_free(&cli.http);

	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	file_read_text(err, r.err, sizeof(r.err));
	pthread_mutex_lock(&F.lock);
	if (F.requests > before) {
		r.body = json_incref(F.body);
		snprintf(r.request, sizeof(r.request), "%s", F.request);
	}
	pthread_mutex_unlock(&F.lock);
	return r;
}

/* The command was refused on its command line: exit 2, one stderr line
 * holding want, no request. */
static void refused(const struct cli_command *cmd, const char *const *args, const char *want)
{
	struct ran r = run(cmd, args);
	if (r.code != CLI_EXIT_USAGE || !strstr(r.err, want))
		fail_msg("%s: exit %d: %s", args[0], r.code, r.err);
	assert_null(strchr(r.err, '\n')); /* one line: its newline is stripped */
	assert_null(r.body);
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

/* tenant get shows host_data, or "-" when the tenant has none. */
static void test_get_shows_host_data(void **state)
{
	json_t *t = json_pack("{s:s, s:s, s:s, s:s}", "name", "acme", "confidential", "sev-snp",
			      "attestation", "required", "host_data", HD_LOWER);
	struct table tb;
	char *text = NULL;
	size_t len = 0;
	for (int i = 0; i < 2; i++) {
		table_init(&tb, 2);
		tenant_block(&tb, t);
		FILE *f = open_memstream(&text, &len);
		assert_non_null(f);
		assert_int_equal(table_print(&tb, f), 0);
		fclose(f);
		table_free(&tb);
		char *row = strstr(text, "Host data:");
		assert_non_null(row);
		row += strlen("Host data:");
		row += strspn(row, " ");
		row[strcspn(row, "\n")] = '\0';
		assert_string_equal(row, i == 0 ? HD_LOWER : "-");
		free(text);
		json_object_set_new(t, "host_data", json_null());
	}
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_computes_host_data),
		cmocka_unit_test(test_create_host_data_given),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_scale_host_data),
		cmocka_unit_test(test_get_shows_host_data),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
