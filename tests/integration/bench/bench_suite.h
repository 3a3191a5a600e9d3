/* What the files of the ditto-bench suite share: running the real binary
 * and reading what it printed. */
#ifndef DITTO_TESTS_BENCH_SUITE_H
#define DITTO_TESTS_BENCH_SUITE_H

#include <jansson.h>

#include "support/run.h"

/* One run of ditto-bench: its exit code and what it printed. */
/* What one run of ditto-bench left behind (support/run.h). */
#define bench_run run_out

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The suite's scratch folder. */
const char *suite_scratch(void);
/* Runs ditto-bench with args, which must succeed and print one JSON object:
 * returns it (the caller decrefs; bench_free r). */
json_t *bench_json(struct bench_run *r, const char *const *args);
void bench_free(struct bench_run *r);
/* Runs ditto-bench with args, which must be refused with exit 2 and one
 * line on stderr holding want. */
void refused(const char *const *args, const char *want);
/* The number at o.a (o.a.b when b is set); fails the test when absent. */
double num(json_t *o, const char *a, const char *b);

/* store.c */
void test_store_refused(void **state);
void test_invoke_postgres(void **state);

/* chaos.c */
void test_chaos_refused(void **state);
void test_chaos(void **state);
void test_chaos_postgres(void **state);
void test_chaos_controller2(void **state);

#endif
