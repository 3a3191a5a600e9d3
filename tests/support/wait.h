/* Waiting in tests for something that happens on its own time (a VM boots,
 * a host comes up, a record is written): poll a predicate under a deadline,
 * never a fixed sleep. */
#ifndef DITTO_TESTS_WAIT_H
#define DITTO_TESTS_WAIT_H

#include <stdbool.h>

/* Calls pred(data) until it returns true: at once, then in steps that grow
 * from 2 ms to 20 ms. When timeout_ms passes first, fails the running cmocka
 * test with what ("the VM to be ready"). pred may use cmocka's assertions. */
void wait_until(bool (*pred)(void *data), void *data, long timeout_ms, const char *what);

/* Sleeps ms milliseconds, for loops that sample rather than wait. */
void pause_ms(long ms);

/* Milliseconds on CLOCK_MONOTONIC since an arbitrary start. */
long long clock_ms(void);

#endif
