/* The agent's HTTP server with no VM: its route table, 404 and 405, the
 * bearer token, the body limits and error bodies that always build, and what
 * it asks of its owner through struct api_server_ops (a fake owner here).
 * The server runs on its own loop thread; the test speaks raw HTTP to it. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "fakes/api_rig.h"

#define TOKEN "s3cret-token"
#define SNP_REFUSAL "/dev/sev is missing"
#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The server's owner, faked: it has no VM, and records what it was asked.
 * Its fields are set by the test thread between calls and read on the
 * loop's thread while a call is served. */
struct owner {
	bool stopping;
	int start_err;       /* what start_vm returns */
	int starts;          /* how many times start_vm was called */
	struct vm_spec spec; /* the last spec start_vm was given */
};

struct fixture {
	struct api_rig srv; /* first, for api_rig_teardown */
	struct artifacts store;
	struct owner owner;
};

static struct vm *owner_find_vm(void *data, const char *tenant)
{
	return NULL;
}

static json_t *owner_vms_json(void *data)
{
	return json_array();
}

static int owner_start_vm(void *data, const struct vm_spec *spec, vm_ready_fn cb, void *cb_data,
			  struct vm **ret)
{
	struct owner *o = data;
	o->starts++;
	o->spec = *spec;
	return o->start_err;
}

static json_t *owner_status_json(void *data)
{
	return json_pack("{s:{}, s:[], s:b}", "cores", "vms", "fake", 1);
}

static bool owner_is_stopping(void *data)
{
	const struct owner *o = data;
	return o->stopping;
}

static const struct api_server_ops owner_ops = {
	.find_vm = owner_find_vm,
	.vms_json = owner_vms_json,
	.start_vm = owner_start_vm,
	.status_json = owner_status_json,
	.is_stopping = owner_is_stopping,
};

/* What came back: the status, the headers and the parsed JSON body. */
struct reply {
	int status;
	char head[2048];
	json_t *body;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	api_rig_init(&fx->srv);
	struct api_server_config cfg = api_rig_config();
	cfg.token = TOKEN;
	cfg.store = &fx->store;
	cfg.snp_refusal = SNP_REFUSAL;
	api_rig_start(&fx->srv, &cfg, &owner_ops, &fx->owner, NULL, NULL);
	assert_true(fx->srv.port > 0);
	*state = fx;
	return 0;
}

/* Sends head (without its blank line), pre, n bytes of body and tail (pre
 * and tail may be NULL), then reads the answer until the server closes. */
static void call_raw(struct fixture *fx, const char *head, const char *pre, size_t n,
		     const char *tail, struct reply *ret)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)fx->srv.port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[4096];
	int len = snprintf(req, sizeof(req), "%sHost: localhost\r\nConnection: close\r\n\r\n",
			   head);
	assert_int_equal(write(fd, req, (size_t)len), len);
	if (pre)
		assert_int_equal(write(fd, pre, strlen(pre)), (ssize_t)strlen(pre));
	char *body = calloc(1, n + 1);
	memset(body, 'x', n);
	/* The server may answer and close before taking all of it. */
	for (size_t off = 0; off < n;) {
		ssize_t w = send(fd, body + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(body);
	if (tail)
		send(fd, tail, strlen(tail), MSG_NOSIGNAL);
	char buf[65536];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(buf) - 1 && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	buf[got] = '\0';
	memset(ret, 0, sizeof(*ret));
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &ret->status), 1);
	char *end = strstr(buf, "\r\n\r\n");
	assert_non_null(end);
	snprintf(ret->head, sizeof(ret->head), "%.*s", (int)(end - buf), buf);
	ret->body = json_loads(end + 4, 0, NULL);
}

static void call(struct fixture *fx, const char *head, size_t n, struct reply *ret)
{
	call_raw(fx, head, NULL, n, NULL, ret);
}

/* The error code of an error reply (asserting that it is one). */
static const char *error_code(const struct reply *r)
{
	json_t *e = json_object_get(r->body, "error");
	assert_true(json_is_string(json_object_get(e, "message")));
	const char *code = json_string_value(json_object_get(e, "code"));
	assert_non_null(code);
	return code;
}

static void expect_error(struct fixture *fx, const char *head, size_t n, int status,
			 const char *code)
{
	struct reply r;
	call(fx, head, n, &r);
	assert_int_equal(r.status, status);
	assert_non_null(strstr(r.head, "application/json"));
	assert_string_equal(error_code(&r), code);
	json_decref(r.body);
}

#define AUTH "Authorization: Bearer " TOKEN "\r\n"

static void test_health_is_open(void **state)
{
	struct reply r;
	call(*state, "GET /healthz HTTP/1.1\r\n", 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "ok");
	json_decref(r.body);
}

static void test_token(void **state)
{
	struct fixture *fx = *state;
	struct reply r;
	call(fx, "GET /v1/vms HTTP/1.1\r\n", 0, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.head, "WWW-Authenticate: Bearer"));
	assert_string_equal(error_code(&r), "unauthorized");
	json_decref(r.body);
	expect_error(fx, "GET /v1/vms HTTP/1.1\r\nAuthorization: Bearer wrong\r\n", 0, 401,
		     "unauthorized");
	expect_error(fx, "GET /v1/vms HTTP/1.1\r\nAuthorization: Bearer s3cret-toke\r\n", 0, 401,
		     "unauthorized");
	expect_error(fx, "GET /v1/vms HTTP/1.1\r\nAuthorization: Bearer " TOKEN "x\r\n", 0, 401,
		     "unauthorized");
	expect_error(fx, "GET /v1/vms HTTP/1.1\r\nAuthorization: Basic " TOKEN "\r\n", 0, 401,
		     "unauthorized");
	/* A path with no route needs the token too: 401, not 404. */
	expect_error(fx, "GET /v1/nothing HTTP/1.1\r\n", 0, 401, "unauthorized");

	/* The scheme is case-insensitive (RFC 7235), spaces after it are fine. */
	const char *ok[] = {
		"GET /v1/vms HTTP/1.1\r\n" AUTH,
		"GET /v1/vms HTTP/1.1\r\nAuthorization: bearer " TOKEN "\r\n",
		"GET /v1/vms HTTP/1.1\r\nAuthorization: BEARER   " TOKEN "\r\n",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		call(fx, ok[i], 0, &r);
		assert_int_equal(r.status, 200);
		assert_true(json_is_array(json_object_get(r.body, "vms")));
		assert_int_equal(json_array_size(json_object_get(r.body, "vms")), 0);
		json_decref(r.body);
	}
}

static void test_routes(void **state)
{
	struct fixture *fx = *state;
	struct reply r;
	call(fx, "GET /v1/status HTTP/1.1\r\n" AUTH, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_object(json_object_get(r.body, "cores")));
	json_decref(r.body);
	/* Empty segments are dropped, as they always were. */
	call(fx, "GET //v1//vms/ HTTP/1.1\r\n" AUTH, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(json_object_get(r.body, "vms")));
	json_decref(r.body);

	expect_error(fx, "GET /v1/nothing HTTP/1.1\r\n" AUTH, 0, 404, "no_route");
	expect_error(fx, "GET /v1/vms/t1/nothing HTTP/1.1\r\n" AUTH, 0, 404, "no_route");
	expect_error(fx, "GET / HTTP/1.1\r\n" AUTH, 0, 404, "no_route");
	expect_error(fx, "GET /v1/vms/t1 HTTP/1.1\r\n" AUTH, 0, 404, "no_vm");
	expect_error(fx, "DELETE /v1/vms/t1 HTTP/1.1\r\n" AUTH, 0, 404, "no_vm");
	expect_error(fx, "POST /v1/vms/t1/restart HTTP/1.1\r\n" AUTH, 0, 404, "no_vm");
	expect_error(fx, "PUT /v1/vms/t1/workers HTTP/1.1\r\n" AUTH, 0, 404, "no_vm");
	expect_error(fx, "PUT /v1/vms/t1/scaling HTTP/1.1\r\n" AUTH, 0, 404, "no_vm");
	expect_error(fx, "POST /v1/vms/t1/invoke?artifact=" DIGEST " HTTP/1.1\r\n" AUTH, 0, 404,
		     "no_vm");
	expect_error(fx, "GET /v1/artifacts/abc HTTP/1.1\r\n" AUTH, 0, 404, "no_artifact");
	expect_error(fx, "PUT /v1/artifacts/abc HTTP/1.1\r\nContent-Length: 3\r\n" AUTH, 3, 400,
		     "bad_digest");

	/* A path with a route, under a method it does not have: 405. */
	expect_error(fx, "POST /v1/vms/t1/workers HTTP/1.1\r\n" AUTH, 0, 405, "bad_method");
	expect_error(fx, "DELETE /v1/artifacts/abc HTTP/1.1\r\n" AUTH, 0, 405, "bad_method");
	expect_error(fx, "GET /v1/vms/t1/invoke HTTP/1.1\r\n" AUTH, 0, 405, "bad_method");
	expect_error(fx, "PATCH /v1/vms/t1 HTTP/1.1\r\n" AUTH, 0, 405, "bad_method");
}

/* A path that is not UTF-8 once decoded still gets a JSON 404 (the error
 * message quotes the path). */
static void test_path_not_utf8(void **state)
{
	struct fixture *fx = *state;
	expect_error(fx, "GET /%FF HTTP/1.1\r\n" AUTH, 0, 404, "no_route");
	expect_error(fx, "GET /v1/%C3%28/%80 HTTP/1.1\r\n" AUTH, 0, 404, "no_route");
	/* And one in a tenant's place reaches the handler, whose error builds. */
	expect_error(fx, "GET /v1/vms/%FF%FE HTTP/1.1\r\n" AUTH, 0, 404, "no_vm");
}

static void test_body_limits(void **state)
{
	struct fixture *fx = *state;
	char head[512];
	/* JSON bodies: 64 KiB. Just over is read and dropped, then 413. */
	snprintf(head, sizeof(head), "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: %d\r\n" AUTH,
		 64 * 1024 + 1);
	expect_error(fx, head, 64 * 1024 + 1, 413, "too_large");
	/* Far over: 413 at once, without the body. */
	expect_error(fx, "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: 1073741824\r\n" AUTH, 0, 413,
		     "too_large");
	/* (libmicrohttpd answers one too long for 64 bits itself.) */
	struct reply r;
	call(fx, "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n" AUTH, 0,
	     &r);
	assert_int_equal(r.status, 413);
	json_decref(r.body);
	/* A body with no declared length, over the limit. */
	call_raw(fx, "PUT /v1/vms/t1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n" AUTH, "10001\r\n",
		 0x10001, "\r\n0\r\n\r\n", &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(error_code(&r), "too_large");
	json_decref(r.body);

	/* Each route its own limit: an invocation's input may be larger. */
	snprintf(head, sizeof(head),
		 "POST /v1/vms/t1/invoke?artifact=" DIGEST
		 " HTTP/1.1\r\nContent-Length: %d\r\n" AUTH,
		 100000);
	expect_error(fx, head, 100000, 404, "no_vm");
	snprintf(head, sizeof(head),
		 "PUT /v1/artifacts/abc HTTP/1.1\r\nContent-Length: %d\r\n" AUTH, 100000);
	expect_error(fx, head, 100000, 400, "bad_digest");
	/* Over the token check: no body limit is told to a caller without it. */
	expect_error(fx, "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: 1073741824\r\n", 0, 401,
		     "unauthorized");
}

/* (libmicrohttpd refuses it before the agent sees it; the answer stays.) */
static void test_content_length_not_a_number(void **state)
{
	struct reply r;
	call(*state, "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: 12abc\r\n" AUTH, 0, &r);
	assert_int_equal(r.status, 400);
	json_decref(r.body);
}

/* The routes ask the owner for its status and VMs, and to start a VM, and
 * answer from what it says. */
static void test_owner(void **state)
{
	struct fixture *fx = *state;
	struct reply r;
	call(fx, "GET /v1/status HTTP/1.1\r\n" AUTH, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.body, "fake")));
	json_decref(r.body);

	/* The spec is parsed, defaults filled in, and handed over. */
	fx->owner.start_err = -EEXIST;
	call_raw(fx, "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: 34\r\n" AUTH,
		 "{\"max_workers\":3,\"memory_mib\":128}", 0, NULL, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(error_code(&r), "exists");
	json_decref(r.body);
	assert_int_equal(fx->owner.starts, 1);
	assert_string_equal(fx->owner.spec.tenant, "t1");
	assert_int_equal(fx->owner.spec.max_workers, 3);
	assert_int_equal(fx->owner.spec.memory_mib, 128);
	assert_int_equal(fx->owner.spec.standby, 1);
	assert_int_equal(fx->owner.spec.hotplug_slots, 32);

	fx->owner.start_err = -EINVAL;
	expect_error(fx, "PUT /v1/vms/t1 HTTP/1.1\r\n" AUTH, 0, 400, "bad_request");
	fx->owner.start_err = -ENOENT;
	expect_error(fx, "PUT /v1/vms/t1 HTTP/1.1\r\n" AUTH, 0, 502, "vm_failed");
	assert_int_equal(fx->owner.starts, 3);

	/* While the owner shuts down, no VM is started. */
	fx->owner.stopping = true;
	expect_error(fx, "PUT /v1/vms/t1 HTTP/1.1\r\n" AUTH, 0, 503, "shutting_down");
	assert_int_equal(fx->owner.starts, 3);
}

/* Starts a VM with body; returns the reply's status (the body is dropped). */
static int put_vm(struct fixture *fx, const char *body, char *code, size_t code_len)
{
	char head[256];
	snprintf(head, sizeof(head), "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: %zu\r\n" AUTH,
		 strlen(body));
	struct reply r;
	call_raw(fx, head, body, 0, NULL, &r);
	snprintf(code, code_len, "%s", r.status >= 400 ? error_code(&r) : "");
	json_decref(r.body);
	return r.status;
}

/* Policies an agent VM cannot run are refused before any VM starts: scale-out
 * (the controller's), a standby under hotplug or over max_workers. */
static void test_policy_refusals(void **state)
{
	struct fixture *fx = *state;
	fx->owner.start_err = -EEXIST;
	char code[32];
	assert_int_equal(put_vm(fx, "{\"policy\":\"scale-out\"}", code, sizeof(code)), 400);
	assert_string_equal(code, "bad_field");
	assert_int_equal(put_vm(fx, "{\"policy\":\"elastic:standby=1\"}", code, sizeof(code)), 400);
	assert_string_equal(code, "bad_field");
	assert_int_equal(put_vm(fx,
				"{\"mechanism\":\"precreated\",\"max_workers\":2,"
				"\"policy\":\"elastic:standby=3\"}",
				code, sizeof(code)),
			 400);
	assert_int_equal(put_vm(fx, "{\"policy\":\"periodic:50\"}", code, sizeof(code)), 400);
	assert_int_equal(fx->owner.starts, 0);
	/* What fits is handed over as parsed. */
	assert_int_equal(put_vm(fx,
				"{\"mechanism\":\"precreated\",\"max_workers\":2,"
				"\"policy\":\"elastic:standby=2\"}",
				code, sizeof(code)),
			 409);
	assert_int_equal(fx->owner.starts, 1);
	assert_int_equal(fx->owner.spec.policy.kind, POLICY_ELASTIC);
	assert_int_equal(fx->owner.spec.policy.standby, 2);
	assert_int_equal(put_vm(fx, "{\"policy\":\"fixed:max\"}", code, sizeof(code)), 409);
	assert_int_equal(fx->owner.spec.policy.workers, POLICY_WORKERS_MAX);
}

/* sev-snp: only precreated, only where the host can (the reason it cannot
 * is the owner's), and nothing else is a confidentiality. */
static void test_confidential_refusals(void **state)
{
	struct fixture *fx = *state;
	char code[32];
	struct reply r;
	const char *hotplug = "{\"confidential\":\"sev-snp\",\"mechanism\":\"hotplug\"}";
	char head[256];
	snprintf(head, sizeof(head), "PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: %zu\r\n" AUTH,
		 strlen(hotplug));
	call_raw(fx, head, hotplug, 0, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(error_code(&r), "bad_field");
	const char *msg = json_string_value(
		json_object_get(json_object_get(r.body, "error"), "message"));
	assert_string_equal(msg, "sev-snp needs the precreated mechanism: a vCPU hot-added after "
				 "launch is not in the launch measurement");
	json_decref(r.body);
	/* sev-snp needs a HOST_DATA of 64 hex digits; none keeps one unused. */
	static const char *const bad[] = {
		"{\"confidential\":\"sev\"}",
		"{\"confidential\":\"sev-snp\",\"mechanism\":\"precreated\"}",
		"{\"confidential\":\"sev-snp\",\"mechanism\":\"precreated\",\"host_data\":null}",
		"{\"confidential\":\"sev-snp\",\"mechanism\":\"precreated\",\"host_data\":\"00\"}",
		"{\"host_data\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(put_vm(fx, bad[i], code, sizeof(code)), 400);
		assert_string_equal(code, "bad_field");
	}
#define HD "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	assert_int_equal(put_vm(fx,
				"{\"confidential\":\"sev-snp\",\"mechanism\":\"precreated\","
				"\"host_data\":\"" HD "\"}",
				code, sizeof(code)),
			 409);
	assert_string_equal(code, "unsupported");
	assert_int_equal(fx->owner.starts, 0);
	fx->owner.start_err = -EEXIST;
	assert_int_equal(put_vm(fx, "{\"confidential\":\"none\",\"host_data\":\"" HD "\"}", code,
				sizeof(code)),
			 409);
#undef HD
	assert_int_equal(fx->owner.spec.confidential, CONFIDENTIAL_NONE);
	assert_true(fx->owner.spec.has_host_data);
	assert_int_equal(fx->owner.spec.host_data[1], 0x11);
	assert_int_equal(fx->owner.spec.host_data[31], 0xff);
}

static void test_bad_address(void **state)
{
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct owner o = { 0 };
	struct api_server *srv = NULL;
	int port = -1;
	struct api_server_config cfg = { .listen_addr = "localhost", .token = TOKEN };
	assert_int_equal(api_server_start(&loop, &cfg, &owner_ops, &o, &srv, &port), -EINVAL);
	assert_null(srv);
	assert_int_equal(port, -1);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_health_is_open, setup, api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_token, setup, api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_routes, setup, api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_path_not_utf8, setup, api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_body_limits, setup, api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_content_length_not_a_number, setup,
						api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_owner, setup, api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_policy_refusals, setup, api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_confidential_refusals, setup,
						api_rig_teardown),
		cmocka_unit_test(test_bad_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
