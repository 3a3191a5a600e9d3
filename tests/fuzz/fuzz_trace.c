/* The Azure trace readers (bench/trace.c) on arbitrary files.
 *
 * trace_load reads files by name, so each input is written out to a private
 * folder first. Input: a selector byte (bit 0: a 2021 CSV, else a 2019
 * folder; bit 1: the original dataset's file names, else the samples'; bit
 * 2: with a memory file), then the files' contents separated by 0x1e
 * (invocations, durations, memory). Checked: a loaded trace has minutes, and
 * every function's counts add up to its total and fit the trace's minutes;
 * a 2021 trace keeps each call, sorted, within its minutes, with durations
 * in order; a refusal says why and leaves nothing allocated. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "trace.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static char dir[64];

static const char *const sample_names[] = { "invocations.csv", "durations.csv", "memory.csv" };
static const char *const original_names[] = {
	"invocations_per_function_md.anon.d01.csv",
	"function_durations_percentiles.anon.d01.csv",
	"app_memory_percentiles.anon.d01.csv",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(dir, sizeof(dir), "/tmp/ditto-fuzz-trace-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	return 0;
}

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void clear(void)
{
	char path[128];
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, sample_names[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", dir, original_names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/trace.csv", dir);
	unlink(path);
}

static void check_function(const struct trace *t, const struct trace_function *f)
{
	FUZZ_CHECK(memchr(f->app, '\0', sizeof(f->app)) && memchr(f->func, '\0', sizeof(f->func)));
	FUZZ_CHECK(memchr(f->trigger, '\0', sizeof(f->trigger)) != NULL);
	uint64_t sum = 0;
	for (int m = 0; m < t->n_minutes; m++)
		sum += f->per_minute[m];
	FUZZ_CHECK(sum == f->total);
	if (t->format != TRACE_AZURE2021) {
		FUZZ_CHECK(f->calls == NULL && f->n_calls == 0);
		return;
	}
	FUZZ_CHECK(f->n_calls == f->total && f->n_calls > 0 && f->has_duration);
	for (size_t i = 0; i < f->n_calls; i++) {
		FUZZ_CHECK(f->calls[i].start_s >= 0 && f->calls[i].start_s / 60 < t->n_minutes);
		FUZZ_CHECK(i == 0 || f->calls[i - 1].start_s <= f->calls[i].start_s);
	}
	for (int i = 1; i < TRACE_DUR_PCTS; i++)
		FUZZ_CHECK(f->dur_pct_ms[i - 1] <= f->dur_pct_ms[i]);
	double mid = trace_interpolate(trace_dur_pct_points, f->dur_pct_ms, TRACE_DUR_PCTS, 50);
	FUZZ_CHECK(mid >= f->dur_pct_ms[0] && mid <= f->dur_pct_ms[TRACE_DUR_PCTS - 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint8_t sel = fuzz_byte(&in);
	bool y2021 = sel & 1;
	const char *const *names = sel & 2 ? original_names : sample_names;
	/* Up to three files, split at 0x1e. */
	const uint8_t *part[3] = { in.p, NULL, NULL };
	size_t len[3] = { in.n, 0, 0 };
	for (int i = 0; i < 2; i++) {
		const uint8_t *sep = memchr(part[i], 0x1e, len[i]);
		if (!sep)
			break;
		part[i + 1] = sep + 1;
		len[i + 1] = len[i] - (size_t)(sep + 1 - part[i]);
		len[i] = (size_t)(sep - part[i]);
	}
	clear();
	char path[128];
	if (y2021) {
		put("trace.csv", part[0], len[0]);
		snprintf(path, sizeof(path), "%s/trace.csv", dir);
	} else {
		put(names[0], part[0], len[0]);
		if (part[1])
			put(names[1], part[1], len[1]);
		if (part[2] && (sel & 4))
			put(names[2], part[2], len[2]);
		snprintf(path, sizeof(path), "%s", dir);
	}

	struct trace t;
	char err[512] = "";
	int r = trace_load(path, 0, &t, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
		FUZZ_CHECK(t.fns == NULL && t.n_fns == 0);
		return 0;
	}
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(t.format == (y2021 ? TRACE_AZURE2021 : TRACE_AZURE2019));
	FUZZ_CHECK(t.n_minutes >= 1);
	for (size_t i = 0; i < t.n_fns; i++)
		check_function(&t, &t.fns[i]);
	trace_free(&t);
	return 0;
}
