/* The blocking HTTP client against peers on loopback: a port nobody listens
 * on, a peer that hangs up without answering (which the client reported as
 * -EIO before it shared the other clients' map of libcurl's results), a
 * cancelled client, bearer tokens that would split a header, and an answer
 * with its JSON. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "api_client.h"

/* A peer on loopback that answers each connection with reply (or nothing,
 * hanging up, when reply is NULL). */
struct peer {
	int fd;
	char url[64];
	const char *reply;
	int conns;
	pthread_t thread;
};

static void *peer_main(void *data)
{
	struct peer *p = data;
	for (int i = 0; i < p->conns; i++) {
		int c = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			break;
		char buf[4096];
		/* The whole request fits in one read on loopback. */
		if (read(c, buf, sizeof(buf)) > 0 && p->reply)
			(void)!write(c, p->reply, strlen(p->reply));
		close(c);
	}
	return NULL;
}

/* Binds a free loopback port; starts the peer when conns > 0. */
static void peer_start(struct peer *p, const char *reply, int conns)
{
	memset(p, 0, sizeof(*p));
	p->reply = reply;
	p->conns = conns;
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->fd >= 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	assert_int_equal(bind(p->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(p->fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", ntohs(sin.sin_port));
	if (conns > 0) {
		assert_int_equal(listen(p->fd, 4), 0);
		assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
	}
}

static void peer_stop(struct peer *p)
{
	if (p->conns > 0)
		pthread_join(p->thread, NULL);
	close(p->fd);
}

static void test_refused(void **state)
{
	struct peer p;
	peer_start(&p, NULL, 0); /* bound, never listening */
	struct api_client c;
	assert_int_equal(api_client_init(&c, p.url), 0);
	json_t *r = NULL;
	assert_int_equal(api_client_call(&c, "GET", "/x", NULL, 0, 5000, &r), -ECONNREFUSED);
	assert_null(r);
	api_client_free(&c);
	peer_stop(&p);
}

static void test_hang_up(void **state)
{
	struct peer p;
	peer_start(&p, NULL, 1);
	struct api_client c;
	assert_int_equal(api_client_init(&c, p.url), 0);
	assert_int_equal(api_client_call(&c, "GET", "/x", NULL, 0, 5000, NULL), -ECONNRESET);
	api_client_free(&c);
	peer_stop(&p);
}

static void test_answer(void **state)
{
	struct peer p;
	peer_start(
		&p,
		"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
		"Connection: close\r\n\r\n{\"ok\":true}",
		1);
	struct api_client c;
	assert_int_equal(api_client_init(&c, p.url), 0);
	assert_int_equal(api_client_set_bearer(&c, "tok-123"), 0);
	json_t *r = NULL;
	assert_int_equal(api_client_call(&c, "POST", "/x", "{}", 2, 5000, &r), 201);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	api_client_free(&c);
	peer_stop(&p);
}

static void test_cancel_and_bearer(void **state)
{
	struct api_client c;
	assert_int_equal(api_client_init(&c, "http://127.0.0.1:9"), 0);
	assert_int_equal(api_client_set_bearer(&c, "a\nb"), -EINVAL);
	assert_int_equal(api_client_set_bearer(&c, "a\x7f"), -EINVAL);
	char long_token[200];
	memset(long_token, 'k', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	assert_int_equal(api_client_set_bearer(&c, long_token), -EINVAL);
	assert_int_equal(api_client_set_bearer(&c, NULL), 0);
	atomic_bool stop = true;
	api_client_set_cancel(&c, &stop);
	assert_int_equal(api_client_call(&c, "GET", "/x", NULL, 0, 5000, NULL), -ECANCELED);
	api_client_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_refused),
					    cmocka_unit_test(test_hang_up),
					    cmocka_unit_test(test_answer),
					    cmocka_unit_test(test_cancel_and_bearer) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
