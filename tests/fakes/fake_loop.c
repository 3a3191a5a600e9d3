#include "fakes/fake_loop.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cmocka.h>

#define WAIT_MS 30000

static void on_wait_timeout(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

void fake_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, const char *what)
{
	bool timed_out = false;
	uv_timer_t *t = malloc(sizeof(*t));
	assert_non_null(t);
	uv_timer_init(loop, t);
	t->data = &timed_out;
	uv_timer_start(t, on_wait_timeout, WAIT_MS, 0);
	while (!done(arg) && !timed_out)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)t, (uv_close_cb)free);
	if (timed_out)
		fail_msg("timed out waiting for %s", what);
}

void fake_pipe_pair(uv_loop_t *loop, uv_pipe_t **ret_pipe, uv_pipe_t *peer, void *peer_data)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	uv_pipe_t *p = malloc(sizeof(*p));
	assert_non_null(p);
	assert_int_equal(uv_pipe_init(loop, p, 0), 0);
	assert_int_equal(uv_pipe_open(p, fds[0]), 0);
	assert_int_equal(uv_pipe_init(loop, peer, 0), 0);
	assert_int_equal(uv_pipe_open(peer, fds[1]), 0);
	peer->data = peer_data;
	*ret_pipe = p;
}

static void on_thread_stop(uv_async_t *h)
{
	struct fake_loop_thread *t = h->data;
	t->on_stop(t->data);
	uv_close((uv_handle_t *)h, NULL);
}

static void *run_thread(void *data)
{
	struct fake_loop_thread *t = data;
	uv_run(t->loop, UV_RUN_DEFAULT);
	return NULL;
}

void fake_loop_thread_start(struct fake_loop_thread *t, uv_loop_t *loop,
			    void (*on_stop)(void *data), void *data)
{
	t->loop = loop;
	t->on_stop = on_stop;
	t->data = data;
	assert_int_equal(uv_async_init(loop, &t->stop, on_thread_stop), 0);
	t->stop.data = t;
	assert_int_equal(pthread_create(&t->thread, NULL, run_thread, t), 0);
}

void fake_loop_thread_stop(struct fake_loop_thread *t)
{
	uv_async_send(&t->stop);
	pthread_join(t->thread, NULL);
	assert_int_equal(uv_loop_close(t->loop), 0);
}
