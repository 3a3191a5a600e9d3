/* Running a test's libuv loop until something happened, for the fake peers
 * and the tests that drive them. */
#ifndef DITTO_TESTS_FAKE_LOOP_H
#define DITTO_TESTS_FAKE_LOOP_H

#include <stdbool.h>

#include <uv.h>

/* Runs loop until done(arg) is true; fails the test (cmocka), naming what,
 * after 30 s. */
void fake_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, const char *what);

/* Connects two pipes over a socket pair: a malloc'd one for the component
 * under test (which takes ownership of it) in *ret_pipe, and peer, the
 * fake's own, with data set to peer_data. */
void fake_pipe_pair(uv_loop_t *loop, uv_pipe_t **ret_pipe, uv_pipe_t *peer, void *peer_data);

#endif
