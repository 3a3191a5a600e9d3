/* The CLI's pure parts: tables and readable forms, reads of reply fields,
 * escaping and query strings, response headers, option parsing with the
 * shared --version, the env file, and how a synchronous answer's timing
 * header becomes JSON.
 *
 * The CLI is one program rather than a library, so this test compiles its
 * modules in (all but main.c); it calls the same code `ditto` runs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../cli/cli.c"
#include "../../cli/cmd_invocation.c"
#include "../../cli/cmd_sealed.c"
#include "../../cli/http.c"
#include "../../cli/output.c"
#include "../../cli/sealed.c"

/* Prints t into a string (the caller frees it); frees the table. */
static char *table_text(struct table *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(table_print(t, f), 0);
	fclose(f);
	table_free(t);
	return text;
}

static void test_table_columns(void **state)
{
	struct table t;
	table_init(&t, 3);
	table_row(&t, "ID", "STATE", "HOST");
	table_row(&t, "a-long-id", NULL, "h1");
	/* Widths count characters, not bytes. */
	table_add(&t, "%s", "é");
	table_add(&t, "%d", 42);
	table_add(&t, "%s", "");
	char *text = table_text(&t);
	assert_string_equal(text, "ID          STATE   HOST\n"
				  "a-long-id   -       h1\n"
				  "é           42      \n");
	free(text);

	/* A last row left short ends where it stops. */
	table_init(&t, 2);
	table_row(&t, "K:", "v");
	table_add(&t, "only");
	text = table_text(&t);
	assert_string_equal(text, "K:     v\nonly\n");
	free(text);
}

static void test_table_when(void **state)
{
	struct table t;
	table_init(&t, 2);
	table_when(&t, "Created:", 0);
	char *text = table_text(&t);
	assert_string_equal(text, "Created:   - (- ago)\n");
	free(text);

	table_init(&t, 2);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	table_when(&t, "At:", (int64_t)now.tv_sec * 1000 - 5000);
	text = table_text(&t);
	assert_non_null(strstr(text, "At:   "));
	/* Five seconds ago, give or take a slow machine. */
	assert_true(strstr(text, " (5s ago)\n") || strstr(text, " (6s ago)\n"));
	free(text);
}

static void test_readable_forms(void **state)
{
	char b[40];
	assert_string_equal(fmt_us(999, b, sizeof(b)), "999us");
	assert_string_equal(fmt_us(2100, b, sizeof(b)), "2.1ms");
	assert_string_equal(fmt_us(1500000, b, sizeof(b)), "1.50s");
	assert_string_equal(fmt_bytes(812, b, sizeof(b)), "812 B");
	assert_string_equal(fmt_bytes(12595, b, sizeof(b)), "12.3 KiB");
	assert_string_equal(fmt_bytes(4 << 20, b, sizeof(b)), "4.0 MiB");
	assert_string_equal(fmt_elapsed(-5, b, sizeof(b)), "0s");
	assert_string_equal(fmt_elapsed(119999, b, sizeof(b)), "119s");
	assert_string_equal(fmt_elapsed(120000, b, sizeof(b)), "2m");
	assert_string_equal(fmt_elapsed(3 * 3600 * 1000, b, sizeof(b)), "3h");
	assert_string_equal(fmt_elapsed(9 * 86400 * 1000LL, b, sizeof(b)), "9d");
	assert_string_equal(fmt_time(0, b, sizeof(b)), "-");
	assert_string_equal(fmt_age(0, b, sizeof(b)), "-");
	/* Milliseconds keep their three digits. */
	fmt_time(1700000000007, b, sizeof(b));
	assert_int_equal(strlen(b), strlen("2023-11-14 22:13:20.007"));
	assert_string_equal(b + strlen(b) - 4, ".007");
}

static void test_fields(void **state)
{
	json_t *o = json_pack("{s:s, s:i, s:f, s:b, s:s}", "s", "x", "i", 7, "r", 2.9, "t", 1, "e",
			      "");
	assert_non_null(o);
	assert_string_equal(field_str(o, "s"), "x");
	assert_null(field_str(o, "i"));
	assert_null(field_str(NULL, "s"));
	assert_int_equal(field_int(o, "i", -1), 7);
	assert_int_equal(field_int(o, "r", -1), 2);
	assert_int_equal(field_int(o, "s", -1), -1);
	assert_int_equal(field_int(o, "missing", 5), 5);
	assert_true(field_bool(o, "t"));
	assert_false(field_bool(o, "i"));
	assert_string_equal(or_dash(field_str(o, "e")), "-");
	assert_string_equal(or_dash(NULL), "-");
	assert_string_equal(or_dash("v"), "v");
	json_decref(o);
}

static void test_escape(void **state)
{
	char out[32];
	assert_int_equal(http_escape("a b/\xc3\xbc~-._Z9", out, sizeof(out)), 0);
	assert_string_equal(out, "a%20b%2F%C3%BC~-._Z9");
	/* Exactly fits with its NUL, then one byte short. */
	assert_int_equal(http_escape("ab%", out, 6), 0);
	assert_string_equal(out, "ab%25");
	assert_int_equal(http_escape("ab%", out, 5), -ENAMETOOLONG);
	assert_int_equal(http_escape("", out, 1), 0);
	assert_string_equal(out, "");
}

static void test_paths_and_queries(void **state)
{
	static const struct cli_command cmd = { "get", "NAME", "", NULL, NULL };
	char path[CLI_PATH_SIZE];
	assert_int_equal(cli_path(&cmd, "/v1/functions/%s", "NAME", "a/b c", path), 0);
	assert_string_equal(path, "/v1/functions/a%2Fb%20c");
	cli_query_add(path, "version", "3");
	cli_query_add(path, "async", "true");
	assert_string_equal(path, "/v1/functions/a%2Fb%20c?version=3&async=true");

	/* A segment longer than CLI_ARG_MAX is a usage error. */
	char long_arg[CLI_ARG_MAX + 2];
	memset(long_arg, 'n', sizeof(long_arg) - 1);
	long_arg[sizeof(long_arg) - 1] = '\0';
	assert_int_equal(cli_path(&cmd, "/v1/functions/%s", "NAME", long_arg, path),
			 CLI_EXIT_USAGE);
	long_arg[CLI_ARG_MAX] = '\0';
	assert_int_equal(cli_path(&cmd, "/v1/functions/%s", "NAME", long_arg, path), 0);
}

static void test_response_header(void **state)
{
	struct http_response r = { 0 };
	const char *h = "HTTP/1.1 200 OK\r\nX-Ditto-Status:  ok \r\nX-Ditto-Statusx: no\r\n"
			"x-ditto-timing: total_us=1\r\n\r\n";
	assert_int_equal(buf_append(&r.headers, h, strlen(h)), 0);
	char v[16];
	assert_true(http_response_header(&r, "X-Ditto-Status", v, sizeof(v)));
	assert_string_equal(v, "ok");
	assert_true(http_response_header(&r, "X-Ditto-Timing", v, sizeof(v)));
	assert_string_equal(v, "total_us=1");
	assert_false(http_response_header(&r, "X-Ditto-Timing", v, 10));
	assert_false(http_response_header(&r, "X-Ditto-Cold-Start", v, sizeof(v)));
	http_response_free(&r);
	assert_false(http_response_header(&r, "X-Ditto-Status", v, sizeof(v)));
}

/* Runs cli_getopt over the words of a command line (from a fresh getopt
 * state, as main does) until it returns something other than a command
 * option. */
static int getopt_words(struct cli *cli, const struct option *opts, int argc, char **argv)
{
	static const struct cli_command cmd = { "get", "NAME", "", NULL, NULL };
	optind = 0;
	int c;
	while ((c = cli_getopt(cli, &cmd, argc, argv, opts)) >= OPT_FIRST_COMMAND)
		;
	return c;
}

static void test_version_option(void **state)
{
	static const struct option opts[] = { CLI_VERSION_OPTION, CLI_GLOBAL_OPTIONS };
	static const struct option plain[] = { CLI_GLOBAL_OPTIONS };
	struct cli cli = { 0 };

	char *ok[] = { "get", "--version", "12", "echo", "--json", NULL };
	assert_int_equal(getopt_words(&cli, opts, 5, ok), -1);
	assert_string_equal(cli.version, "12");
	assert_true(cli.json);
	assert_int_equal(optind, 4);
	assert_string_equal(ok[optind], "echo");

	const char *const bad[] = { "0", "-1", "+1", "1x", "", "9223372036854775808" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cli c2 = { 0 };
		char *argv[] = { "get", "echo", "--version", (char *)bad[i], NULL };
		assert_int_equal(getopt_words(&c2, opts, 4, argv), '?');
		assert_null(c2.version);
	}

	/* Only the commands that list it take --version. */
	struct cli c3 = { 0 };
	char *other[] = { "delete", "echo", "--version", "1", NULL };
	assert_int_equal(getopt_words(&c3, plain, 4, other), '?');
	assert_null(c3.version);

	char *help[] = { "get", "-h", NULL };
	assert_int_equal(getopt_words(&cli, opts, 2, help), OPT_HELP);
}

static void test_env_file(void **state)
{
	char path[] = "/tmp/ditto-test-env-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# a comment\nexport DITTO_URL=\"http://h:1\"\nDITTO_KEY='k1'\n"
			   "DITTO_KEYS=other\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	unsetenv("DITTO_URL");
	unsetenv("DITTO_KEY");
	setenv("DITTO_ENV", path, 1);

	struct cli cli = { 0 };
	cli_config_load(&cli);
	assert_string_equal(cli.url, "http://h:1");
	assert_string_equal(cli.key, "k1");

	/* With DITTO_KEY set the file is not read; DITTO_URL wins over it. */
	setenv("DITTO_KEY", "k2", 1);
	struct cli c2 = { 0 };
	cli_config_load(&c2);
	assert_string_equal(c2.url, CLI_DEFAULT_URL);
	assert_string_equal(c2.key, "k2");

	unsetenv("DITTO_KEY");
	setenv("DITTO_URL", "http://env:2", 1);
	struct cli c3 = { 0 };
	cli_config_load(&c3);
	assert_string_equal(c3.url, "http://env:2");
	assert_string_equal(c3.key, "k1");

	unsetenv("DITTO_URL");
	unsetenv("DITTO_ENV");
	unlink(path);
}

static void test_timing_header(void **state)
{
	json_t *o = parse_timing("total_us=12, controller_us=-1,  x=abc, big=9223372036854775807, "
				 "plus=+5, =3, bare, over=9223372036854775808");
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "total_us")), 12);
	assert_int_equal(json_integer_value(json_object_get(o, "controller_us")), -1);
	assert_int_equal(json_integer_value(json_object_get(o, "big")), INT64_MAX);
	/* Only strict decimal integers become numbers. */
	assert_string_equal(json_string_value(json_object_get(o, "x")), "abc");
	assert_string_equal(json_string_value(json_object_get(o, "plus")), "+5");
	assert_string_equal(json_string_value(json_object_get(o, "over")), "9223372036854775808");
	assert_int_equal(json_object_size(o), 6);
	json_decref(o);
}

static void test_record_text(void **state)
{
	json_t *rec = json_pack("{s:{s:s, s:s}}", "error", "code", "function_error", "message",
				"boom");
	assert_non_null(rec);
	char err[64];
	error_text(rec, err, sizeof(err));
	assert_string_equal(err, "function_error: boom");
	json_object_set_new(rec, "error", json_string("plain"));
	error_text(rec, err, sizeof(err));
	assert_string_equal(err, "plain");
	json_object_del(rec, "error");
	error_text(rec, err, sizeof(err));
	assert_string_equal(err, "-");

	/* The block shows a result's first line only, and says how much more
	 * there is. */
	struct table t;
	table_init(&t, 1);
	result_cell(&t, rec);
	json_object_set_new(rec, "result", json_string("line one\r\nline two"));
	json_object_set_new(rec, "result_encoding", json_string("utf-8"));
	result_cell(&t, rec);
	json_object_set_new(rec, "result", json_string("just one\n\n"));
	result_cell(&t, rec);
	json_object_set_new(rec, "result", json_string("aGk="));
	json_object_set_new(rec, "result_encoding", json_string("base64"));
	result_cell(&t, rec);
	json_object_set_new(rec, "result", json_string("not base64!"));
	result_cell(&t, rec);
	char *text = table_text(&t);
	assert_string_equal(text, "-\n"
				  "line one ... (18 bytes, see --json)\n"
				  "just one\n"
				  "2 bytes, not UTF-8 (see --json)\n"
				  "-\n");
	free(text);
	json_decref(rec);
}

/* Builds a synchronous answer: the X-Ditto-* headers and body[0..n). */
static json_t *summary_of(const char *headers, const void *body, size_t n)
{
	struct http_response r = { .status = 200 };
	assert_int_equal(buf_append(&r.headers, headers, strlen(headers)), 0);
	assert_int_equal(buf_append(&r.body, body, n), 0);
	json_t *o = sync_summary(&r);
	assert_non_null(o);
	http_response_free(&r);
	return o;
}

static void test_sync_summary(void **state)
{
	json_t *o = summary_of("HTTP/1.1 200 OK\r\nX-Ditto-Invocation-Id: abc\r\n"
			       "X-Ditto-Cold-Start: true\r\nX-Ditto-Timing: total_us=7\r\n\r\n",
			       "{\"a\":1}", 7);
	assert_string_equal(field_str(o, "id"), "abc");
	assert_string_equal(field_str(o, "status"), "ok");
	assert_true(field_bool(o, "cold_start"));
	assert_int_equal(field_int(json_object_get(o, "timing"), "total_us", -1), 7);
	assert_string_equal(field_str(o, "result"), "{\"a\":1}");
	assert_string_equal(field_str(o, "result_encoding"), "utf-8");
	json_decref(o);

	o = summary_of("HTTP/1.1 200 OK\r\nX-Ditto-Status: ok\r\n\r\n", "\xff\x00", 2);
	assert_false(field_bool(o, "cold_start"));
	assert_string_equal(field_str(o, "result"), "/wA=");
	assert_string_equal(field_str(o, "result_encoding"), "base64");
	json_decref(o);

	/* An empty result is there too, as the help promises. */
	o = summary_of("HTTP/1.1 200 OK\r\n\r\n", NULL, 0);
	assert_string_equal(field_str(o, "result"), "");
	assert_string_equal(field_str(o, "result_encoding"), "utf-8");
	assert_string_equal(field_str(o, "id"), "");
	json_decref(o);
}

/* An encrypted call that reached a VM its input was not sealed to is tried
 * again after a new attestation; no other failure is. */
static void test_reached_other_vm(void **state)
{
	struct http_response r = { .status = 502 };
	const char *other = "{\"error\": {\"code\": \"function_error\", \"message\": \"e2e: not "
			    "sealed to this VM's key (attest again)\", \"invocation\": \"ab\"}}";
	assert_int_equal(buf_append(&r.body, other, strlen(other)), 0);
	assert_true(reached_other_vm(CLI_EXIT_FUNCTION, &r));
	assert_false(reached_other_vm(CLI_EXIT_API, &r));
	buf_reset(&r.body);
	const char *failed = "{\"error\": {\"code\": \"function_error\", \"message\": \"the "
			     "function failed: exit code 1\"}}";
	assert_int_equal(buf_append(&r.body, failed, strlen(failed)), 0);
	assert_false(reached_other_vm(CLI_EXIT_FUNCTION, &r));
	buf_reset(&r.body);
	assert_false(reached_other_vm(CLI_EXIT_FUNCTION, &r));
	http_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_columns),   cmocka_unit_test(test_table_when),
		cmocka_unit_test(test_readable_forms),  cmocka_unit_test(test_fields),
		cmocka_unit_test(test_escape),          cmocka_unit_test(test_paths_and_queries),
		cmocka_unit_test(test_response_header), cmocka_unit_test(test_version_option),
		cmocka_unit_test(test_env_file),        cmocka_unit_test(test_timing_header),
		cmocka_unit_test(test_record_text),     cmocka_unit_test(test_sync_summary),
		cmocka_unit_test(test_reached_other_vm)
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
