/* Help, usage errors, and the errors of a controller that is not there or
 * does not know the key. */
#include "cli.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

static const char *const commands[][2] = {
	{ "deploy", NULL },      { "invoke", NULL },  { "functions", NULL },
	{ "get", NULL },         { "delete", NULL },  { "invocations", NULL },
	{ "invocation", NULL },  { "logs", NULL },    { "tenant", "create" },
	{ "tenant", "list" },    { "tenant", "get" }, { "key", "create" },
	{ "scale", NULL },       { "hosts", NULL },   { "hosts", "drain" },
	{ "hosts", "undrain" },  { "up", NULL },      { "down", NULL },
	{ "invocation", "get" }, { "measure", NULL },
};

void test_help(void **state)
{
	struct run r;
	DITTO(&r, NULL, "--help");
	expect_ok(&r);
	assert_string_equal(r.err, "");
	assert_non_null(strstr(r.out, "exit codes:"));
	assert_non_null(strstr(r.out, "4  the invocation failed"));
	assert_non_null(strstr(r.out, "DITTO_ENV"));
	run_free(&r);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const char *noun = commands[i][0], *verb = commands[i][1];
		if (verb)
			DITTO(&r, NULL, noun, verb, "--help");
		else
			DITTO(&r, NULL, noun, "--help");
		expect_ok(&r);
		char want[64];
		snprintf(want, sizeof(want), "usage: ditto %s%s%s", noun, verb ? " " : "",
			 verb ? verb : "");
		if (strncmp(r.out, want, strlen(want)) != 0)
			fail_msg("help of %s: %s", want, r.out);
		assert_non_null(strstr(r.out, "--json"));
		run_free(&r);
	}
	/* A noun alone with --help lists its verbs. */
	DITTO(&r, NULL, "tenant", "--help");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "ditto tenant create NAME"));
	assert_non_null(strstr(r.out, "ditto tenant list"));
	run_free(&r);
}

/* Every malformed command line exits 2 with one line on stderr, before any
 * request is made (the key is a wrong one, which would make a request fail
 * with exit 1 instead). */
void test_usage_errors(void **state)
{
	static const char *const cases[][8] = {
		{ NULL },
		{ "frobnicate" },
		{ "--bogus", "functions" },
		{ "--url" },
		{ "functions", "extra" },
		{ "functions", "--url" },
		{ "functions", "--frob" },
		{ "functions", "--json=yes" },
		{ "deploy" },
		{ "deploy", "f" },
		{ "deploy", "f", "file", "more" },
		{ "deploy", "f", "file", "--timeout", "soon" },
		{ "deploy", "f", "file", "--memory", "0" },
		{ "deploy", "f", "file", "--concurrency", "-3" },
		{ "deploy", "f", "file", "--mode", "fast" },
		{ "invoke" },
		{ "invoke", "f", "--version", "0" },
		{ "invoke", "f", "--data" },
		{ "invoke", "f", "x", "--data", "y" },
		{ "invoke", "f", "x", "y" },
		{ "invoke", "f", "--encrypted" }, /* neither --tenant nor DITTO_TENANT */
		{ "invoke", "f", "--e2e-key", "k" },
		{ "deploy", "f", "file", "--e2e-key", "k" },
		{ "invocation", "get" },
		{ "invocation", "get", "a", "--e2e-key" },
		{ "measure", "--vcpus", "1" },
		{ "get" },
		{ "get", "f", "--version", "latest" },
		{ "delete", "a", "b" },
		{ "invocations", "a", "b" },
		{ "invocations", "--limit", "many" },
		{ "invocation" },
		{ "logs" },
		{ "logs", "a", "b" },
		{ "tenant" },
		{ "tenant", "frob" },
		{ "tenant", "create" },
		{ "tenant", "get", "a", "b" },
		{ "key" },
		{ "key", "create" }, /* neither TENANT nor DITTO_TENANT */
		{ "scale" },
		{ "scale", "acme" },
		{ "scale", "acme", "--min", "-1" },
		{ "scale", "acme", "--mechanism", "warp" },
		{ "scale", "acme", "--policy", "sometimes" },
		{ "scale", "acme", "--policy", "fixed:" },
		{ "scale", "acme", "--policy", "manual" },
		{ "scale", "acme", "--policy", "scale-out:soon" },
		{ "hosts", "frob" },
		{ "hosts", "drain" },
		{ "hosts", "undrain", "a", "b" },
		{ "up", "--port", "70000" },
		{ "up", "extra" },
		{ "up", "--wire-capture", "" },
		{ "down", "extra" },
		{ "down", "--data-dir" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct run r;
		run_as(&r, "dk_0000000000000000000000000000000000000000", NULL, cases[i]);
		if (r.status != 2 || !one_line(r.err) || r.out[0])
			fail_msg("case %zu (%s %s): exit %d, stderr \"%s\", stdout \"%s\"", i,
				 cases[i][0] ? cases[i][0] : "",
				 cases[i][0] && cases[i][1] ? cases[i][1] : "", r.status, r.err,
				 r.out);
		run_free(&r);
	}
	/* No key configured at all is a configuration error. */
	ditto_fails(NULL, 2, "no API key", ARGV("functions"));
}

void test_unreachable(void **state)
{
	/* A port that was free a moment ago: nothing listens there. */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sin.sin_port));
	ditto_fails(S.admin, 3, "cannot reach the controller",
		    ARGV("--url", url, "tenant", "list"));
	/* The flag may come after the command too. */
	ditto_fails(S.admin, 3, url, ARGV("tenant", "list", "--url", url));
}

void test_wrong_key(void **state)
{
	struct run r;
	DITTO(&r, "dk_0000000000000000000000000000000000000000", "functions");
	expect_error(&r, 1, "(unauthorized, HTTP 401)");
	assert_non_null(strstr(r.err, "unknown or revoked key"));
	run_free(&r);
	ditto_fails(S.admin, 1, "(unauthorized, HTTP 401)",
		    ARGV("--key", "dk_1111111111111111111111111111111111111111", "tenant", "list"));
}
