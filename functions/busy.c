/* busy: the synthetic function of trace replay. For {"ms":N,"mb":M} it writes
 * to every page of M MiB of fresh memory and keeps the CPU busy until it has
 * used N ms of its own CPU time in all (touching the memory included), so the
 * work is the same however contended the CPU is; the result says where and
 * how much it ran:
 * {"ms":N,"mb":M,"cpu":C,"iterations":K}. Missing fields count as 0; other
 * fields are ignored.
 *
 * It parses its input itself rather than linking a JSON library into a static
 * binary: a strict scanner for one flat object is all it needs. */
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "function.h"

#define BUSY_MAX_MS 3600000ULL /* one hour */
#define BUSY_MAX_MB 65536ULL   /* 64 GiB */
#define BUSY_MAX_DEPTH 32      /* nesting allowed inside ignored fields */
#define BUSY_CHUNK 1024        /* work steps between two looks at the clock */

struct scan {
	const char *p;
	const char *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Consumes c (after whitespace); false when something else is there. */
static bool accept(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Consumes a JSON string and returns its raw contents (escapes left as they
 * are) in ret_start/ret_len. */
static bool scan_string(struct scan *s, const char **ret_start, size_t *ret_len)
{
	if (!accept(s, '"'))
		return false;
	const char *start = s->p;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p;
		if (c == '"') {
			*ret_start = start;
			*ret_len = (size_t)(s->p - start);
			s->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (++s->p == s->end)
				return false;
			if (*s->p == 'u') {
				for (int i = 0; i < 4; i++)
					if (++s->p == s->end || !is_hex(*s->p))
						return false;
			} else if (*s->p == '\0' || !strchr("\"\\/bfnrt", *s->p)) {
				return false;
			}
		}
		s->p++;
	}
	return false;
}

/* Consumes a JSON number. */
static bool scan_number(struct scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p == s->end || !is_digit(*s->p))
		return false;
	if (*s->p++ != '0')
		while (s->p < s->end && is_digit(*s->p))
			s->p++;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (s->p == s->end || !is_digit(*s->p))
			return false;
		while (s->p < s->end && is_digit(*s->p))
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (s->p == s->end || !is_digit(*s->p))
			return false;
		while (s->p < s->end && is_digit(*s->p))
			s->p++;
	}
	return true;
}

static bool scan_literal(struct scan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool scan_value(struct scan *s, int depth);

/* Consumes an array (close is ']') or an object ('}') from its opening
 * bracket, where s is, checking its syntax. */
static bool scan_items(struct scan *s, char close, int depth)
{
	const char *key;
	size_t len;

	s->p++;
	if (accept(s, close))
		return true;
	do {
		if (close == '}' && (!scan_string(s, &key, &len) || !accept(s, ':')))
			return false;
		if (!scan_value(s, depth + 1))
			return false;
	} while (accept(s, ','));
	return accept(s, close);
}

/* Consumes any JSON value, checking its syntax; used for ignored fields. */
static bool scan_value(struct scan *s, int depth)
{
	const char *str;
	size_t len;

	skip_ws(s);
	if (s->p == s->end || depth > BUSY_MAX_DEPTH)
		return false;
	switch (*s->p) {
	case '"': return scan_string(s, &str, &len);
	case 't': return scan_literal(s, "true");
	case 'f': return scan_literal(s, "false");
	case 'n': return scan_literal(s, "null");
	case '[': return scan_items(s, ']', depth);
	case '{': return scan_items(s, '}', depth);
	default: return scan_number(s);
	}
}

/* Consumes a JSON number that must be an integer in [0, max]. */
static bool scan_uint(struct scan *s, uint64_t max, uint64_t *ret)
{
	skip_ws(s);
	const char *start = s->p;
	if (!scan_number(s) || *start == '-')
		return false;
	uint64_t v = 0;
	for (const char *c = start; c < s->p; c++) {
		if (!is_digit(*c))
			return false; /* a fraction or an exponent */
		v = v * 10 + (uint64_t)(*c - '0');
		if (v > max)
			return false;
	}
	*ret = v;
	return true;
}

/* Parses the request object into ret_ms and ret_mb. */
static int parse_request(const char *input, size_t len, uint64_t *ret_ms, uint64_t *ret_mb,
			 const char **ret_error)
{
	struct scan s = { .p = input, .end = input + len };
	uint64_t ms = 0, mb = 0;
	bool seen_ms = false, seen_mb = false;

	*ret_error = "input must be a JSON object such as {\"ms\":100,\"mb\":16}";
	if (!accept(&s, '{'))
		return -EINVAL;
	if (!accept(&s, '}')) {
		do {
			const char *key;
			size_t key_len;
			if (!scan_string(&s, &key, &key_len) || !accept(&s, ':'))
				return -EINVAL;
			if (key_len == 2 && memcmp(key, "ms", 2) == 0) {
				*ret_error = "ms must be an integer from 0 to 3600000, given once";
				if (seen_ms || !scan_uint(&s, BUSY_MAX_MS, &ms))
					return -EINVAL;
				seen_ms = true;
			} else if (key_len == 2 && memcmp(key, "mb", 2) == 0) {
				*ret_error = "mb must be an integer from 0 to 65536, given once";
				if (seen_mb || !scan_uint(&s, BUSY_MAX_MB, &mb))
					return -EINVAL;
				seen_mb = true;
			} else if (!scan_value(&s, 1)) {
				return -EINVAL;
			}
			*ret_error = "input must be a JSON object such as {\"ms\":100,\"mb\":16}";
		} while (accept(&s, ','));
		if (!accept(&s, '}'))
			return -EINVAL;
	}
	skip_ws(&s);
	if (s.p != s.end)
		return -EINVAL;
	*ret_ms = ms;
	*ret_mb = mb;
	return 0;
}

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Writes one byte to every page of a fresh mb MiB mapping, so each page is
 * really allocated, then returns the memory. */
static int touch_memory(uint64_t mb)
{
	if (mb == 0)
		return 0;
	size_t size = (size_t)mb << 20;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	volatile char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	for (size_t off = 0; off < size; off += page)
		mem[off] = (char)off;
	munmap((void *)mem, size);
	return 0;
}

/* Runs xorshift steps until the thread has used until_ns of CPU time; returns
 * the number of steps. */
static uint64_t spin(uint64_t until_ns)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL, steps = 0;
	while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < until_ns) {
		for (int i = 0; i < BUSY_CHUNK; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		/* Keeps the compiler from dropping work whose result is unused. */
		__asm__ volatile("" : "+r"(x));
		steps += BUSY_CHUNK;
	}
	return steps;
}

static int busy(const char *input, size_t len, struct fn_result *result, const char **ret_error)
{
	uint64_t ms, mb;
	int e = parse_request(input, len, &ms, &mb, ret_error);
	if (e < 0)
		return e;

	/* The CPU budget counts from here, so touching memory is part of it. */
	uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t wall0 = clock_ns(CLOCK_MONOTONIC);
	e = touch_memory(mb);
	if (e < 0) {
		*ret_error = "cannot allocate the requested memory";
		return e;
	}
	uint64_t iterations = spin(cpu0 + ms * 1000000ULL);
	int cpu = sched_getcpu();
	uint64_t cpu_used = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	uint64_t wall = clock_ns(CLOCK_MONOTONIC) - wall0;

	if (buf_printf(&result->buf, "{\"ms\":%llu,\"mb\":%llu,\"cpu\":%d,\"iterations\":%llu}",
		       (unsigned long long)ms, (unsigned long long)mb, cpu,
		       (unsigned long long)iterations) < 0) {
		*ret_error = "out of memory";
		return -ENOMEM;
	}
	fprintf(stderr, "busy: ms=%llu mb=%llu cpu=%d iterations=%llu cpu_ms=%.1f wall_ms=%.1f\n",
		(unsigned long long)ms, (unsigned long long)mb, cpu, (unsigned long long)iterations,
		(double)cpu_used / 1e6, (double)wall / 1e6);
	return 0;
}

int main(void)
{
	return fn_main("busy", busy);
}
