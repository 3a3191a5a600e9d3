#include "support/wait.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "util.h"

void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

long long clock_ms(void)
{
	return (long long)(time_now_us() / 1000u);
}

void wait_until(bool (*pred)(void *data), void *data, long timeout_ms, const char *what)
{
	long long deadline = clock_ms() + timeout_ms;
	long step = 2;
	while (!pred(data)) {
		if (clock_ms() > deadline)
			fail_msg("timed out after %ld ms waiting for %s", timeout_ms, what);
		pause_ms(step);
		step = step * 2 > 20 ? 20 : step * 2;
	}
}
