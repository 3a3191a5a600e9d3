/* Running a test's libuv loop until something happened, for the fake peers
 * and the tests that drive them. */
#ifndef DITTO_TESTS_FAKE_LOOP_H
#define DITTO_TESTS_FAKE_LOOP_H

#include <pthread.h>
#include <stdbool.h>

#include <uv.h>

/* Runs loop until done(arg) is true; fails the test (cmocka), naming what,
 * after 30 s. */
void fake_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, const char *what);

/* Connects two pipes over a socket pair: a malloc'd one for the component
 * under test (which takes ownership of it) in *ret_pipe, and peer, the
 * fake's own, with data set to peer_data. */
void fake_pipe_pair(uv_loop_t *loop, uv_pipe_t **ret_pipe, uv_pipe_t *peer, void *peer_data);

/* A loop run on a thread of its own while the test calls in from outside
 * (over HTTP, say). */
struct fake_loop_thread {
	uv_loop_t *loop;
	uv_async_t stop;
	pthread_t thread;
	void (*on_stop)(void *data); /* closes what the test opened on the loop */
	void *data;
};

/* Starts running loop on a new thread; on_stop(data) runs on it when the
 * test stops it. */
void fake_loop_thread_start(struct fake_loop_thread *t, uv_loop_t *loop,
			    void (*on_stop)(void *data), void *data);

/* Runs on_stop on the loop's thread, waits until the loop has nothing left
 * and checks it closes clean. */
void fake_loop_thread_stop(struct fake_loop_thread *t);

#endif
