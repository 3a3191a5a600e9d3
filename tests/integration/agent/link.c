/* The agent's link to a controller (a fake one here) and the bearer token
 * that guards its API. */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fakes/fake_controller.h"
#include "support/procs.h"
#include "util.h"

/* Writes text to dir/name; its path goes to path. */
static void write_in(const char *dir, const char *name, const char *text, char path[512])
{
	snprintf(path, 512, "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static bool is_hex(const char *s, size_t len)
{
	return s && strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

/* Reads the token the agent keeps in dir/agent.token, for its owner only. */
static void read_token(const char *dir, char token[128])
{
	char path[512];
	snprintf(path, sizeof(path), "%s/agent.token", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(file_read_text(path, token, 128) > 0);
}

/* GET path on url with an optional bearer token; returns the status and the
 * error code, if any, in code. */
static int get_with(const char *url, const char *token, const char *path, char code[32])
{
	struct api_client c;
	api_client_init(&c, url);
	if (token)
		assert_int_equal(api_client_set_bearer(&c, token), 0);
	json_t *r = NULL;
	int st = api_client_call(&c, "GET", path, NULL, 0, STEP_MS, &r);
	snprintf(code, 32, "%s", error_code(r) ?: "");
	json_decref(r);
	api_client_free(&c);
	return st;
}

/* With ctl's lock held: the first registration is right, and heartbeats
 * follow. Returns the boot id in boot_id. */
static void expect_registered(struct fake_controller *ctl, const struct daemon_proc *a,
			      const char *token, char boot_id[64])
{
	json_t *reg = ctl->reg_body;
	assert_string_equal(ctl->reg_auth, "Bearer adm-0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(reg, "id")), "h-test");
	assert_string_equal(json_string_value(json_object_get(reg, "address")), a->url);
	assert_string_equal(json_string_value(json_object_get(reg, "token")), token);
	snprintf(boot_id, 64, "%s", json_string_value(json_object_get(reg, "boot_id")));
	assert_true(is_hex(boot_id, 32));
	json_t *status = json_object_get(reg, "status");
	assert_true(json_is_array(json_object_get(status, "vms")));
	json_int_t cores = json_integer_value(
		json_object_get(json_object_get(status, "cores"), "total"));
	assert_true(cores >= 1);
	assert_int_equal(json_integer_value(json_object_get(reg, "cores")), cores);

	int beats = ctl->heartbeats;
	fake_controller_wait(ctl, &ctl->heartbeats, beats + 2);
	assert_string_equal(ctl->hb_url, "/v1/hosts/h-test/heartbeat");
	assert_string_equal(ctl->hb_auth, "Bearer adm-0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(ctl->hb_body, "boot_id")), boot_id);
	assert_non_null(json_object_get(json_object_get(ctl->hb_body, "status"), "accel"));
}

/* The token guards every route but /healthz. */
static void expect_guarded(const char *url, const char *token)
{
	char code[32];
	assert_int_equal(get_with(url, NULL, "/v1/status", code), 401);
	assert_string_equal(code, "unauthorized");
	assert_int_equal(get_with(url, "not-the-token", "/v1/status", code), 401);
	assert_int_equal(get_with(url, NULL, "/v1/vms", code), 401);
	assert_int_equal(get_with(url, NULL, "/healthz", code), 200);
	assert_int_equal(get_with(url, token, "/v1/status", code), 200);
	struct api_client c;
	api_client_init(&c, url);
	json_t *e = NULL;
	assert_int_equal(api_client_call(&c, "PUT", "/v1/vms/t", "{}", 2, STEP_MS, &e), 401);
	json_decref(e);
	api_client_free(&c);
}

/* The agent registers (trying again while the controller refuses), sends
 * heartbeats, registers again when the controller has forgotten it or saw
 * another boot, and requires its token from then on. A new start is a new
 * boot with a new token. */
void test_controller_link(void **state)
{
	struct fake_controller ctl;
	fake_controller_start(&ctl);
	char dir[] = "/tmp/ditto-it-link.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char keyfile[512];
	write_in(dir, "admin.key", "adm-0123456789abcdef\n", keyfile);

	pthread_mutex_lock(&ctl.lock);
	ctl.fail_registrations = 2;
	pthread_mutex_unlock(&ctl.lock);
	const char *extra[] = { "--controller",   ctl.url,     "--controller-key-file",
				keyfile,          "--host-id", "h-test",
				"--heartbeat-ms", "100",       NULL };
	struct daemon_proc a;
	assert_int_equal(proc_start_agent(&a, dir, extra), 0);

	pthread_mutex_lock(&ctl.lock);
	fake_controller_wait(&ctl, &ctl.registered, 1);
	assert_int_equal(ctl.register_calls, 3);
	char token[128], boot_id[64];
	read_token(dir, token);
	assert_true(is_hex(token, 64));
	expect_registered(&ctl, &a, token, boot_id);

	/* Forgotten (404), then another boot seen under this id (409): the
	 * agent registers again at once, as the same boot. */
	ctl.heartbeat_status = 404;
	fake_controller_wait(&ctl, &ctl.registered, 2);
	ctl.heartbeat_status = 409;
	fake_controller_wait(&ctl, &ctl.registered, 3);
	assert_string_equal(json_string_value(json_object_get(ctl.reg_body, "boot_id")), boot_id);
	assert_string_equal(json_string_value(json_object_get(ctl.reg_body, "token")), token);
	int beats = ctl.heartbeats;
	fake_controller_wait(&ctl, &ctl.heartbeats, beats + 1);
	pthread_mutex_unlock(&ctl.lock);

	expect_guarded(a.url, token);
	/* Two refusals in a row are one change of state: logged once. */
	assert_int_equal(count_in_file(a.log, "controller_register_failed"), 1);
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, 30000), 0);

	/* A new start: a new boot and a new token; the old one opens nothing. */
	pthread_mutex_lock(&ctl.lock);
	int before = ctl.registered;
	pthread_mutex_unlock(&ctl.lock);
	assert_int_equal(proc_start_agent(&a, dir, extra), 0);
	pthread_mutex_lock(&ctl.lock);
	fake_controller_wait(&ctl, &ctl.registered, before + 1);
	const char *boot2 = json_string_value(json_object_get(ctl.reg_body, "boot_id"));
	assert_true(is_hex(boot2, 32));
	assert_string_not_equal(boot2, boot_id);
	char token2[128], code[32];
	read_token(dir, token2);
	assert_string_equal(json_string_value(json_object_get(ctl.reg_body, "token")), token2);
	assert_string_not_equal(token2, token);
	pthread_mutex_unlock(&ctl.lock);
	assert_int_equal(get_with(a.url, token, "/v1/status", code), 401);
	assert_int_equal(get_with(a.url, token2, "/v1/status", code), 200);
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, 30000), 0);
	fake_controller_stop(&ctl);
}

/* --token-file guards the API without a controller; a missing token or key
 * file stops the agent at start. */
void test_token_file(void **state)
{
	char dir[] = "/tmp/ditto-it-token.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char tokfile[512];
	write_in(dir, "op.token", "  s3cret-operator-token \n", tokfile);
	const char *extra[] = { "--token-file", tokfile, NULL };
	struct daemon_proc a;
	assert_int_equal(proc_start_agent(&a, dir, extra), 0);
	char code[32];
	assert_int_equal(get_with(a.url, NULL, "/v1/status", code), 401);
	assert_int_equal(get_with(a.url, "s3cret-operator-toke", "/v1/status", code), 401);
	assert_int_equal(get_with(a.url, "s3cret-operator-token", "/v1/status", code), 200);
	assert_int_equal(get_with(a.url, NULL, "/healthz", code), 200);
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, 30000), 0);

	const char *missing[] = { "--token-file", "/nonexistent/token", NULL };
	assert_int_equal(proc_start_agent(&a, dir, missing), -ECHILD);
	const char *nokey[] = { "--controller", "http://127.0.0.1:9", "--controller-key-file",
				"/nonexistent/key", NULL };
	assert_int_equal(proc_start_agent(&a, dir, nokey), -ECHILD);
	const char *badid[] = { "--controller", "http://127.0.0.1:9", "--host-id", "no spaces",
				NULL };
	assert_int_equal(proc_start_agent(&a, dir, badid), -ECHILD);
}
