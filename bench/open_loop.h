/* ditto-bench invoke --rate: the arithmetic of an open-loop schedule (pure).
 * Call i of a run is due i / rate seconds after its start, whatever became
 * of the calls before it; a client free at some time takes the first call
 * not yet taken whose time has not passed. A call whose time passed while
 * every client (the cap on outstanding calls) was busy is dropped, not sent
 * late: so the latency of the calls sent, measured from their due time,
 * hides no waiting for a client. */
#ifndef DITTO_BENCH_OPEN_LOOP_H
#define DITTO_BENCH_OPEN_LOOP_H

/* When call i is due, in us from the run's start, at rate calls/s (> 0). */
long long open_loop_due_us(long long i, int rate);

/* The calls due before end_us from the start: the run's offered calls. */
long long open_loop_calls(long long end_us, int rate);

/* The call a client free now_us after the start takes, given next, the
 * first call no client has taken: next itself when it is not yet due,
 * else the first call due at or after now_us. *ret_dropped gets how many
 * calls were skipped (0 or more). */
long long open_loop_take(long long next, int rate, long long now_us, long long *ret_dropped);

#endif
