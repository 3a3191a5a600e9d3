/* The controller link alone: its own config and a status callback, against
 * the fake controller. The link's loop runs on a thread of the test's; the
 * status callback must only ever run there. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "fakes/fake_controller.h"
#include "support/files.h"
#include "support/procs.h"
#include "support/run.h"
#include "uplink.h"

struct fixture {
	struct fake_controller ctl;
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	pthread_t loop_thread; /* set by the loop's thread itself */
	struct uplink *link;
	struct uplink *other; /* a second link on the same loop, or NULL */
	atomic_int beats;     /* status callbacks so far */
	atomic_bool off_loop; /* a status callback ran on another thread */
};

static json_t *status_json(void *data)
{
	struct fixture *fx = data;
	if (!pthread_equal(pthread_self(), fx->loop_thread))
		atomic_store(&fx->off_loop, true);
	int n = atomic_fetch_add(&fx->beats, 1) + 1;
	return json_pack("{s:i}", "beat", n);
}

static void on_stop(uv_async_t *h)
{
	struct fixture *fx = h->data;
	uplink_stop(fx->link);
	uplink_stop(fx->other);
	uv_close((uv_handle_t *)h, NULL);
}

static void *run_loop(void *data)
{
	struct fixture *fx = data;
	fx->loop_thread = pthread_self();
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fake_controller_start(&fx->ctl);
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	fake_controller_stop(&fx->ctl);
	free(fx);
	return 0;
}

static struct uplink_config config(struct fixture *fx)
{
	return (struct uplink_config){
		.controller_url = fx->ctl.url,
		.controller_key = "ctl-key",
		.host_id = "host-1",
		.address = "http://127.0.0.1:7070",
		.token = "agent-token",
		.cores = 3,
		.heartbeat_ms = 20,
	};
}

/* Starts the link, then its loop on a thread of its own (libuv handles are
 * set up before the loop runs: they are not thread-safe). */
static void start(struct fixture *fx, const struct uplink_config *cfg)
{
	char err[256] = "";
	uv_async_init(&fx->loop, &fx->stop, on_stop);
	fx->stop.data = fx;
	assert_int_equal(uplink_start(&fx->loop, cfg, status_json, fx, err, sizeof(err), &fx->link),
			 0);
	assert_int_equal(pthread_create(&fx->thread, NULL, run_loop, fx), 0);
}

static void stop(struct fixture *fx)
{
	uv_async_send(&fx->stop);
	pthread_join(fx->thread, NULL);
}

static void test_registers_and_beats(void **state)
{
	struct fixture *fx = *state;
	struct uplink_config cfg = config(fx);
	start(fx, &cfg);
	struct fake_controller *c = &fx->ctl;
	pthread_mutex_lock(&c->lock);
	fake_controller_wait(c, &c->registered, 1);
	fake_controller_wait(c, &c->heartbeats, 2);
	json_t *reg = c->reg_body;
	assert_string_equal(json_string_value(json_object_get(reg, "id")), "host-1");
	assert_string_equal(json_string_value(json_object_get(reg, "address")),
			    "http://127.0.0.1:7070");
	assert_string_equal(json_string_value(json_object_get(reg, "token")), "agent-token");
	assert_int_equal(json_integer_value(json_object_get(reg, "cores")), 3);
	assert_int_equal(strlen(json_string_value(json_object_get(reg, "boot_id"))), 32);
	assert_true(json_integer_value(json_object_get(json_object_get(reg, "status"), "beat")) >=
		    1);
	assert_string_equal(c->reg_auth, "Bearer ctl-key");
	assert_string_equal(c->hb_auth, "Bearer ctl-key");
	assert_string_equal(c->hb_url, "/v1/hosts/host-1/heartbeat");
	/* Each beat carries a status the callback made after the first one. */
	assert_true(json_integer_value(
			    json_object_get(json_object_get(c->hb_body, "status"), "beat")) >= 2);
	assert_string_equal(json_string_value(json_object_get(c->hb_body, "boot_id")),
			    json_string_value(json_object_get(reg, "boot_id")));

	/* A controller that forgot the host gets a registration again. */
	c->heartbeat_status = 404;
	fake_controller_wait(c, &c->registered, 2);
	pthread_mutex_unlock(&c->lock);
	stop(fx);
	assert_false(atomic_load(&fx->off_loop));
}

static void test_register_retried(void **state)
{
	struct fixture *fx = *state;
	struct uplink_config cfg = config(fx);
	cfg.controller_key = NULL;
	struct fake_controller *c = &fx->ctl;
	pthread_mutex_lock(&c->lock);
	c->fail_registrations = 2;
	pthread_mutex_unlock(&c->lock);
	start(fx, &cfg);
	pthread_mutex_lock(&c->lock);
	fake_controller_wait(c, &c->registered, 1);
	assert_true(c->register_calls >= 3);
	assert_string_equal(c->reg_auth, ""); /* no key, no header */
	pthread_mutex_unlock(&c->lock);
	stop(fx);
}

/* What the controller would refuse stops the start, with a reason, and
 * nothing is left running. */
static void test_bad_config(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	struct uplink *u = NULL;
	struct uplink_config cfg = config(fx);
	cfg.controller_url = "ftp://x";
	assert_int_equal(uplink_start(&fx->loop, &cfg, status_json, fx, err, sizeof(err), &u),
			 -EINVAL);
	assert_non_null(strstr(err, "--controller"));
	cfg = config(fx);
	cfg.host_id = "bad host";
	assert_int_equal(uplink_start(&fx->loop, &cfg, status_json, fx, err, sizeof(err), &u),
			 -EINVAL);
	assert_non_null(strstr(err, "host id"));
	cfg = config(fx);
	cfg.address = "https://127.0.0.1:7070";
	assert_int_equal(uplink_start(&fx->loop, &cfg, status_json, fx, err, sizeof(err), &u),
			 -EINVAL);
	assert_non_null(strstr(err, "--advertise"));
	assert_null(u);
	assert_int_equal(atomic_load(&fx->beats), 0);
	assert_int_equal(uv_run(&fx->loop, UV_RUN_NOWAIT), 0);
}

/* Each test gets a fixture of its own. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* A socket on loopback that takes connections into its backlog and never
 * answers: a controller that hangs. Writes its URL into url. */
static int stalled_controller(char *url, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(url, size, "http://127.0.0.1:%d", ntohs(sin.sin_port));
	return fd;
}

/* An agent with two controllers has a link to each: while one controller
 * hangs on its registration, the other is registered and keeps getting its
 * heartbeats. */
static void test_hung_controller_delays_nothing(void **state)
{
	struct fixture *fx = *state;
	char url[64], err[256] = "";
	int fd = stalled_controller(url, sizeof(url));
	struct uplink_config cfg = config(fx);
	cfg.controller_url = url;
	assert_int_equal(uplink_start(&fx->loop, &cfg, status_json, fx, err, sizeof(err),
				      &fx->other),
			 0);
	cfg = config(fx);
	start(fx, &cfg);
	struct fake_controller *c = &fx->ctl;
	pthread_mutex_lock(&c->lock);
	fake_controller_wait(c, &c->registered, 1);
	/* At 20 ms a beat, far within the hung call's 10 s. */
	fake_controller_wait(c, &c->heartbeats, 5);
	pthread_mutex_unlock(&c->lock);
	stop(fx);
	close(fd);
}

/* The URLs a link takes. */
static void test_url_is_valid(void **state)
{
	assert_true(uplink_url_is_valid("http://10.0.0.1:8080"));
	assert_true(uplink_url_is_valid("https://ctl.example"));
	assert_false(uplink_url_is_valid("ftp://x"));
	assert_false(uplink_url_is_valid("http://a b"));
	assert_false(uplink_url_is_valid("ctl:8080"));
}

/* ditto-agent takes up to 8 --controller: a ninth, or a URL a link would
 * refuse, is one line on stderr and exit status 2, before anything starts. */
static void test_agent_controller_options(void **state)
{
	char dir[64], agent[256];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "uplink-opts"), 0);
	snprintf(agent, sizeof(agent), "%s/ditto-agent", test_build_dir());
	const char *argv[20] = { agent };
	size_t n = 1;
	for (int i = 0; i < 9; i++) {
		static char urls[9][32];
		snprintf(urls[i], sizeof(urls[i]), "http://127.0.0.1:%d", 1 + i);
		argv[n++] = "--controller";
		argv[n++] = urls[i];
	}
	struct run_out r;
	run_program(&r, dir, NULL, argv);
	assert_int_equal(r.status, 2);
	assert_string_equal(r.err, "ditto-agent: at most 8 --controller\n");
	run_out_free(&r);
	const char *const bad[] = { agent, "--controller", "http://127.0.0.1:1", "--controller",
				    "ctl:8080", NULL };
	run_program(&r, dir, NULL, bad);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--controller must be an http:// or https:// URL"));
	/* One line. */
	assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1);
	run_out_free(&r);
	remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = { FIXTURE_TEST(test_registers_and_beats),
					    FIXTURE_TEST(test_register_retried),
					    FIXTURE_TEST(test_bad_config),
					    FIXTURE_TEST(test_hung_controller_delays_nothing),
					    cmocka_unit_test(test_url_is_valid),
					    cmocka_unit_test(test_agent_controller_options) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
