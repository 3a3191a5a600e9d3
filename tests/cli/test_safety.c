/* key list, key revoke, hosts remove and artifacts gc: the request each
 * sends (method, path, query), what it prints, and the command lines it
 * refuses before any request. The commands run in this process against a
 * stand-in controller that records what it was sent (fake_api.h).
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
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>

#include "../../cli/cli.c"
#include "../../cli/cmd_artifact.c"
#include "../../cli/cmd_host.c"
#include "../../cli/cmd_sealed.c"
#include "../../cli/cmd_tenant.c"
#include "../../cli/http.c"
#include "../../cli/output.c"
#include "../../cli/sealed.c"
#include "fake_api.h"

#define KEY_ID "dk_0123456789ab"

/* One answer that suits every command here. */
static json_t *fake_answer(const char *method, const char *url, const json_t *body)
{
	return json_pack("{s:s, s:s, s:b, s:[{s:s, s:I}], s:s, s:i, s:i, s:i, s:i, s:i, s:i}",
			 "tenant", "acme", "key_id", KEY_ID, "revoked", 1, "keys", "key_id", KEY_ID,
			 "created_ms", (json_int_t)1764000000000, "id", "h1", "vms_lost", 2,
			 "collected", 3, "bytes", 100, "orphans", 1, "orphan_bytes", 5,
			 "kept_in_flight", 0);
}

static int setup(void **state)
{
	return fake_setup("safety");
}

/* Runs a command that must succeed with request and query, printing out. */
static void sends(const struct cli_command *cmd, const char *const *args, const char *request,
		  const char *query, const char *out)
{
	struct ran r = run(cmd, args);
	if (r.code != 0 || strcmp(r.request, request) || strcmp(r.query, query) ||
	    !strstr(r.out, out))
		fail_msg("%s: exit %d, request \"%s?%s\", out \"%s\", err \"%s\"", args[0], r.code,
			 r.request, r.query, r.out, r.err);
	json_decref(r.body);
}

static void test_keys(void **state)
{
	sends(&cmd_key_list, ARGV("list", "acme"), "GET /v1/tenants/acme/keys", "", KEY_ID);
	sends(&cmd_key_revoke, ARGV("revoke", "acme", KEY_ID),
	      "DELETE /v1/tenants/acme/keys/" KEY_ID, "", "revoked key " KEY_ID " of tenant acme");
	setenv("DITTO_TENANT", "beta", 1);
	sends(&cmd_key_list, ARGV("list"), "GET /v1/tenants/beta/keys", "", KEY_ID);
	sends(&cmd_key_revoke, ARGV("revoke", KEY_ID), "DELETE /v1/tenants/beta/keys/" KEY_ID, "",
	      "revoked key");
	unsetenv("DITTO_TENANT");
	refused(&cmd_key_list, ARGV("list"), "name the TENANT");
	refused(&cmd_key_revoke, ARGV("revoke", KEY_ID), "name the TENANT");
	refused(&cmd_key_revoke, ARGV("revoke"), "missing");
	refused(&cmd_key_revoke, ARGV("revoke", "a", "b", "c"), "unexpected argument");
	refused(&cmd_key_list, ARGV("list", "a", "b"), "unexpected argument");
}

static void test_hosts_remove(void **state)
{
	sends(&cmd_hosts_remove, ARGV("remove", "h1"), "DELETE /v1/hosts/h1", "",
	      "removed host h1 (2 VMs lost)");
	sends(&cmd_hosts_remove, ARGV("remove", "h1", "--force"), "DELETE /v1/hosts/h1",
	      "force=true", "removed host h1");
	refused(&cmd_hosts_remove, ARGV("remove"), "missing");
	refused(&cmd_hosts_remove, ARGV("remove", "h1", "h2"), "unexpected argument");
	refused(&cmd_hosts_remove, ARGV("remove", "h1", "--now"), "--now");
	refused(&cmd_hosts, ARGV("hosts", "delete"), "hosts takes drain, undrain or remove");
}

static void test_artifacts_gc(void **state)
{
	sends(&cmd_artifacts_gc, ARGV("gc"), "POST /v1/artifacts/gc", "",
	      "freed 3 artifacts (100 bytes) and 1 orphan files (5 bytes)");
	sends(&cmd_artifacts_gc, ARGV("gc", "--dry-run"), "POST /v1/artifacts/gc", "dry_run=true",
	      "would free 3 artifacts");
	refused(&cmd_artifacts_gc, ARGV("gc", "all"), "unexpected argument");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_hosts_remove),
		cmocka_unit_test(test_artifacts_gc),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
