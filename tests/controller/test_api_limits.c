/* The HTTP server's own limits, over real loopback connections: bodies over
 * a route's limit refused from their headers (never "100 Continue" for
 * one), a client that sends its whole body before reading still reads the
 * 413, and connections over --max-connections answered 503 with
 * Retry-After rather than dropped. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>

#include <cmocka.h>

#include "api_fixture.h"
#include "raw_http.h"

/* Over JSON_BODY_MAX (64 KiB), by less than HTTPD_DRAIN_MAX: read and
 * dropped before the 413. */
#define OVER_DRAINED 100000
/* Over it by more than HTTPD_DRAIN_MAX: refused before any of it is read. */
#define OVER_FAR (64u << 20)

static int connect_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	/* Only a safety net against a hung server: no test asserts a time. */
	struct timeval tv = { .tv_sec = 60 };
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Reads from fd until the server closes it (or the safety timeout) into
 * out, NUL-terminated. Returns the bytes read, or -1. */
static ssize_t read_all(int fd, struct buf *out)
{
	char chunk[4096];
	ssize_t n;
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		if (buf_append(out, chunk, (size_t)n) < 0)
			return -1;
	return buf_append(out, "", 1) < 0 ? -1 : (ssize_t)out->len - 1;
}

/* Sends the request head printf'd from fmt on a new connection, without
 * closing the sending side, and reads the whole answer into out. */
static void head_only(int port, struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void head_only(int port, struct buf *out, const char *fmt, ...)
{
	struct buf req = { 0 };
	va_list ap;
	va_start(ap, fmt);
	assert_int_equal(buf_vprintf(&req, fmt, ap), 0);
	va_end(ap);
	int fd = connect_port(port);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, req.data, req.len, MSG_NOSIGNAL), (ssize_t)req.len);
	assert_true(read_all(fd, out) > 0);
	close(fd);
	buf_free(&req);
}

/* The JSON error code of a raw answer text with a JSON type, or NULL. */
static const char *text_error_code(const char *text, struct raw_reply *ret)
{
	*ret = (struct raw_reply){ .status = -1 };
	const char *end = strstr(text, "\r\n\r\n");
	if (!end || sscanf(text, "HTTP/1.1 %d", &ret->status) != 1)
		return NULL;
	const char *ct = strcasestr(text, "\r\nContent-Type: application/json");
	ret->json_type = ct && ct < end;
	ret->json = json_loads(end + 4, 0, NULL);
	return raw_error_code(ret);
}

/* A body known to be too large is answered 413, never "100 Continue". */
static void test_expect_continue_over_limit(void **state)
{
	struct fixture *f = *state;
	int port = daemon_proc_port(&f->proc);
	const unsigned long long lens[] = { OVER_DRAINED, OVER_FAR };
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		struct buf out = { 0 };
		head_only(port, &out,
			  "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
			  "Content-Type: application/json\r\nExpect: 100-continue\r\n"
			  "Content-Length: %llu\r\n\r\n",
			  f->admin, lens[i]);
		const char *text = (const char *)out.data;
		assert_null(strstr(text, "100 Continue"));
		struct raw_reply rep;
		const char *code = text_error_code(text, &rep);
		assert_int_equal(rep.status, 413);
		assert_non_null(code);
		assert_string_equal(code, "too_large");
		raw_reply_free(&rep);
		buf_free(&out);
	}
	/* Within the limit, the client is told to go on. */
	int fd = connect_port(port);
	assert_true(fd >= 0);
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\nExpect: 100-continue\r\n"
			 "Content-Length: 2\r\n\r\n",
			 f->admin);
	assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	char line[64] = "";
	assert_true(recv(fd, line, sizeof(line) - 1, 0) > 0);
	assert_int_equal(strncmp(line, "HTTP/1.1 100 Continue", 21), 0);
	close(fd);
}

/* A client that writes its whole request before it reads anything (as
 * Python's http.client does) reads the 413, not a reset. */
static void test_body_sent_before_reading(void **state)
{
	struct fixture *f = *state;
	int port = daemon_proc_port(&f->proc);
	const size_t sizes[] = { OVER_DRAINED, 4u << 20 };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		char *body = malloc(sizes[i]);
		assert_non_null(body);
		memset(body, 'x', sizes[i]);
		struct raw_reply rep;
		assert_int_equal(raw_call(port, "POST", "/v1/tenants", f->admin,
					  "Content-Type: application/json\r\n", body, sizes[i],
					  &rep),
				 413);
		assert_non_null(raw_error_code(&rep));
		assert_string_equal(raw_error_code(&rep), "too_large");
		raw_reply_free(&rep);
		free(body);
	}
}

/* A declared length far over the limit is refused from the headers: the
 * 413 comes while the client has sent none of the body. */
static void test_far_over_refused_from_headers(void **state)
{
	struct fixture *f = *state;
	int port = daemon_proc_port(&f->proc);
	struct buf out = { 0 };
	head_only(port, &out,
		  "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
		  "Content-Type: application/json\r\nContent-Length: %u\r\n\r\n",
		  f->admin, OVER_FAR);
	struct raw_reply rep;
	const char *code = text_error_code((const char *)out.data, &rep);
	assert_int_equal(rep.status, 413);
	assert_non_null(code);
	assert_string_equal(code, "too_large");
	raw_reply_free(&rep);
	buf_free(&out);
}

/* The GET /healthz status on an open connection, reading one answer (the
 * connection stays open), or -1. */
static int healthz_on(int fd, bool *ret_retry_after, char **ret_code)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		return -1;
	char text[2048];
	size_t len = 0;
	ssize_t n;
	/* The answers here are small: one read of the head and body is read
	 * until the JSON body closes. */
	while (len < sizeof(text) - 1 &&
	       (n = recv(fd, text + len, sizeof(text) - 1 - len, 0)) > 0) {
		len += (size_t)n;
		text[len] = '\0';
		const char *end = strstr(text, "\r\n\r\n");
		if (end && strchr(end, '}'))
			break;
	}
	text[len] = '\0';
	struct raw_reply rep;
	const char *code = text_error_code(text, &rep);
	if (ret_retry_after)
		*ret_retry_after = strcasestr(text, "\r\nRetry-After: ") != NULL;
	if (ret_code)
		*ret_code = code ? strdup(code) : NULL;
	raw_reply_free(&rep);
	return rep.status;
}

/* Over --max-connections, a connection's request is answered 503 with
 * Retry-After and the JSON error, while those within the limit are
 * served; once they close, new connections are served again. */
static void test_connection_limit(void **state)
{
	struct fixture *f = *state;
	daemon_proc_stop(&f->proc, SIGTERM, 10000);
	const char *const extra[] = { "--max-connections", "4", NULL };
	assert_int_equal(proc_start_controller(&f->proc, f->dir, 0, extra, f->admin), 0);
	int port = daemon_proc_port(&f->proc);
	/* Five open at once: whichever the server counts fifth is over. */
	int fds[5];
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = connect_port(port);
		assert_true(fds[i] >= 0);
	}
	int served = 0, refused = 0;
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		bool retry_after = false;
		char *code = NULL;
		int status = healthz_on(fds[i], &retry_after, &code);
		if (status == 200) {
			served++;
			assert_false(retry_after);
		} else {
			refused++;
			assert_int_equal(status, 503);
			assert_true(retry_after);
			assert_non_null(code);
			assert_string_equal(code, "too_many_connections");
		}
		free(code);
	}
	assert_int_equal(served, 4);
	assert_int_equal(refused, 1);
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	/* The server sees the closes in its own time: poll, with a generous
	 * deadline, until a new connection is within the limit again. */
	int status = -1;
	for (int tries = 0; tries < 2000 && status != 200; tries++) {
		int fd = connect_port(port);
		assert_true(fd >= 0);
		status = healthz_on(fd, NULL, NULL);
		close(fd);
		if (status != 200)
			usleep(10000);
	}
	assert_int_equal(status, 200);
}

/* Past the room for 503s (4 + 4 / 4 + 16 = 21 open with --max-connections
 * 4), connections wait to be accepted instead of being closed unanswered:
 * with 30 open, every one gets an answer once those before it close. */
static void test_connections_past_room_wait(void **state)
{
	struct fixture *f = *state;
	daemon_proc_stop(&f->proc, SIGTERM, 10000);
	const char *const extra[] = { "--max-connections", "4", NULL };
	assert_int_equal(proc_start_controller(&f->proc, f->dir, 0, extra, f->admin), 0);
	int port = daemon_proc_port(&f->proc);
	int fds[30];
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = connect_port(port);
		assert_true(fds[i] >= 0);
	}
	/* In order of connection: each answer's close lets a waiting one in. */
	int answered = 0;
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		int status = healthz_on(fds[i], NULL, NULL);
		answered += status == 200 || status == 503;
		close(fds[i]);
	}
	assert_int_equal(answered, (int)ARRAY_SIZE(fds));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_expect_continue_over_limit),
		FIXTURE_TEST(test_body_sent_before_reading),
		FIXTURE_TEST(test_far_over_refused_from_headers),
		FIXTURE_TEST(test_connection_limit),
		FIXTURE_TEST(test_connections_past_room_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
