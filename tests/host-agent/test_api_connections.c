/* The agent's HTTP server at its limits, over raw HTTP on loopback: a
 * connection opened while its max_connections are open is answered 503
 * too_many_connections with Retry-After and the JSON error, then closed,
 * while the open ones go on being served and a new one is served again once
 * one of them closes; a body its headers declare over the route's limit is
 * refused 413 without "100 Continue", which a body within the limit gets.
 * The server runs on its own loop thread with no VM; no route used here
 * reaches its owner. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "fakes/api_rig.h"
#include "util.h"

#define MAX_CONNECTIONS 4

struct fixture {
	struct api_rig srv; /* first, for api_rig_teardown */
};

static int setup(void **state)
{
	static const struct api_server_ops no_owner = { 0 };
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	api_rig_init(&fx->srv);
	struct api_server_config cfg = api_rig_config();
	cfg.max_connections = MAX_CONNECTIONS;
	api_rig_start(&fx->srv, &cfg, &no_owner, NULL, NULL, NULL);
	*state = fx;
	return 0;
}

/* A new connection to the server. A read that waits 30 s fails the test
 * rather than hang it. */
static int connect_to(const struct fixture *fx)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 30 };
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)fx->srv.port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void send_text(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* One answer: its status, its head and its JSON body. */
struct reply {
	int status;
	char head[2048];
	json_t *body;
};

/* Reads from fd until buf (size bytes, kept a string) holds a whole head,
 * with *got bytes in all. Returns where the head ends, its blank line
 * included. */
static char *read_head(int fd, char *buf, size_t size, size_t *got)
{
	char *end;
	while (!(end = strstr(buf, "\r\n\r\n"))) {
		ssize_t n = read(fd, buf + *got, size - 1 - *got);
		if (n <= 0)
			fail_msg("the connection ended before a whole head (%zd, %s): \"%s\"", n,
				 n < 0 ? strerror(errno) : "closed", buf);
		*got += (size_t)n;
		buf[*got] = '\0';
	}
	return end + 4;
}

/* Reads one answer (its body as its Content-Length says) from fd. */
static void read_reply(int fd, struct reply *r)
{
	char buf[8192] = "";
	size_t got = 0;
	char *body = read_head(fd, buf, sizeof(buf), &got);
	memset(r, 0, sizeof(*r));
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &r->status), 1);
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(body - buf), buf);
	const char *cl = strcasestr(r->head, "\r\nContent-Length:");
	assert_non_null(cl);
	size_t len = strtoul(cl + strlen("\r\nContent-Length:"), NULL, 10);
	size_t have = got - (size_t)(body - buf);
	while (have < len) {
		assert_true((size_t)(body - buf) + len < sizeof(buf));
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
		have += (size_t)n;
	}
	r->body = json_loadb(body, len, 0, NULL);
	assert_non_null(r->body);
}

/* Whether the server closed fd, everything before read. */
static bool closed_by_server(int fd)
{
	char c;
	return read(fd, &c, 1) == 0;
}

/* GET /healthz on fd, kept alive: 200. */
static void healthy(int fd)
{
	struct reply r;
	send_text(fd, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
	read_reply(fd, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "ok");
	json_decref(r.body);
}

/* GET /healthz on a new connection: true for 200, false for the 503 of a
 * connection over the limit, which must carry Retry-After and the JSON
 * error and be closed after it. */
static bool served(const struct fixture *fx)
{
	int fd = connect_to(fx);
	struct reply r;
	send_text(fd, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
	read_reply(fd, &r);
	bool ok = r.status == 200;
	if (!ok) {
		assert_int_equal(r.status, 503);
		assert_non_null(strcasestr(r.head, "\r\nRetry-After: 1\r\n"));
		assert_non_null(strcasestr(r.head, "\r\nContent-Type: application/json"));
		json_t *e = json_object_get(r.body, "error");
		assert_string_equal(json_string_value(json_object_get(e, "code")),
				    "too_many_connections");
		const char *msg = json_string_value(json_object_get(e, "message"));
		assert_non_null(msg);
		assert_non_null(strstr(msg, "over 4 client connections"));
		assert_true(closed_by_server(fd));
	}
	json_decref(r.body);
	close(fd);
	return ok;
}

static void test_over_the_connection_limit(void **state)
{
	struct fixture *fx = *state;
	int open[MAX_CONNECTIONS];
	/* Each answered once, so each is open and counted. */
	for (int i = 0; i < MAX_CONNECTIONS; i++) {
		open[i] = connect_to(fx);
		healthy(open[i]);
	}
	assert_false(served(fx));
	assert_false(served(fx));
	/* The open ones are still served. */
	for (int i = 0; i < MAX_CONNECTIONS; i++)
		healthy(open[i]);
	/* One closes: once the server has seen it go, a new one is served. */
	close(open[0]);
	uint64_t deadline = time_now_us() + 30 * 1000000ull;
	bool ok;
	while (!(ok = served(fx)) && time_now_us() < deadline)
		;
	assert_true(ok);
	for (int i = 1; i < MAX_CONNECTIONS; i++)
		close(open[i]);
}

/* Sends head with "Expect: 100-continue" and no body yet, and reads all
 * that comes back until the server closes. */
static void expect_continue(const struct fixture *fx, const char *head, char *buf, size_t size)
{
	int fd = connect_to(fx);
	char req[1024];
	snprintf(req, sizeof(req),
		 "%sHost: localhost\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", head);
	send_text(fd, req);
	size_t got = 0;
	ssize_t n;
	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

static void test_body_refused_from_headers(void **state)
{
	struct fixture *fx = *state;
	char buf[8192];
	/* A JSON body's limit is 64 KiB: just over, and far over. */
	const char *const over[] = {
		"PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: 65537\r\n",
		"PUT /v1/vms/t1 HTTP/1.1\r\nContent-Length: 1073741824\r\n",
		"PUT /v1/artifacts/abc HTTP/1.1\r\nContent-Length: 1073741824\r\n",
	};
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		expect_continue(fx, over[i], buf, sizeof(buf));
		assert_int_equal(strncmp(buf, "HTTP/1.1 413 ", 13), 0);
		assert_null(strstr(buf, "100 Continue"));
		assert_non_null(strstr(buf, "\"code\":\"too_large\""));
	}
	/* Within the limit the client is told to go on, and its body is read. */
	int fd = connect_to(fx);
	send_text(fd, "PUT /v1/artifacts/abc HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
		      "Expect: 100-continue\r\n\r\n");
	size_t got = 0;
	buf[0] = '\0';
	char *end = read_head(fd, buf, sizeof(buf), &got);
	assert_int_equal(strncmp(buf, "HTTP/1.1 100 Continue\r\n", 23), 0);
	assert_int_equal((size_t)(end - buf), got);
	send_text(fd, "abc");
	struct reply r;
	read_reply(fd, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(r.body, "error"), "code")),
		"bad_digest");
	json_decref(r.body);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_over_the_connection_limit, setup,
						api_rig_teardown),
		cmocka_unit_test_setup_teardown(test_body_refused_from_headers, setup,
						api_rig_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
