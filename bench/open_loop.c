/* ditto-bench invoke --rate: the open-loop schedule's arithmetic. */
#include "open_loop.h"

long long open_loop_due_us(long long i, int rate)
{
	/* Exact in integers: no drift over a long run. */
	return i * 1000000LL / rate;
}

long long open_loop_calls(long long end_us, int rate)
{
	if (end_us <= 0)
		return 0;
	/* The first call due at or after end_us is not one of them. */
	long long n = (end_us * rate + 999999) / 1000000;
	while (n > 0 && open_loop_due_us(n - 1, rate) >= end_us)
		n--;
	while (open_loop_due_us(n, rate) < end_us)
		n++;
	return n;
}

long long open_loop_take(long long next, int rate, long long now_us, long long *ret_dropped)
{
	long long i = next;
	if (open_loop_due_us(next, rate) < now_us) {
		i = open_loop_calls(now_us, rate);
		if (i < next)
			i = next;
	}
	*ret_dropped = i - next;
	return i;
}
