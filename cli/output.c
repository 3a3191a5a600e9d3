#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define COLUMN_GAP 3

void table_init(struct table *t, size_t ncols)
{
	*t = (struct table){ .ncols = ncols };
}

static void table_push(struct table *t, char *cell)
{
	if (!cell) {
		t->oom = true;
		return;
	}
	if (array_reserve(&t->cells, &t->cap, t->ncells + 1, sizeof(*t->cells), 64) < 0) {
		free(cell);
		t->oom = true;
		return;
	}
	t->cells[t->ncells++] = cell;
}

void table_add(struct table *t, const char *fmt, ...)
{
	char *cell = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&cell, fmt, ap) < 0)
		cell = NULL;
	va_end(ap);
	table_push(t, cell);
}

void table_row(struct table *t, ...)
{
	va_list ap;
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		table_push(t, strdup(s ? s : "-"));
	}
	va_end(ap);
}

void table_when(struct table *t, const char *label, int64_t ms)
{
	char when[40], age[32];
	table_add(t, "%s", label);
	table_add(t, "%s (%s ago)", fmt_time(ms, when, sizeof(when)),
		  fmt_age(ms, age, sizeof(age)));
}

/* Display width of a UTF-8 string: one column per character, which holds
 * for the names, states and numbers tables show. */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

int table_print(const struct table *t, FILE *f)
{
	if (t->oom)
		return -ENOMEM;
	size_t *w = calloc(t->ncols, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < t->ncells; i++) {
		size_t n = width(t->cells[i]);
		if (n > w[i % t->ncols])
			w[i % t->ncols] = n;
	}
	for (size_t i = 0; i < t->ncells; i++) {
		size_t col = i % t->ncols;
		bool last = col == t->ncols - 1 || i == t->ncells - 1;
		fputs(t->cells[i], f);
		if (last)
			fputc('\n', f);
		else
			fprintf(f, "%*s", (int)(w[col] - width(t->cells[i]) + COLUMN_GAP), "");
	}
	free(w);
	return ferror(f) ? -EIO : 0;
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (struct table){ .ncols = t->ncols };
}

const char *fmt_elapsed(int64_t ms, char *out, size_t size)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;
	if (s < 120)
		snprintf(out, size, "%llds", (long long)s);
	else if (s < 120 * 60)
		snprintf(out, size, "%lldm", (long long)(s / 60));
	else if (s < 48 * 3600)
		snprintf(out, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, size, "%lldd", (long long)(s / 86400));
	return out;
}

const char *fmt_age(int64_t ms, char *out, size_t size)
{
	if (ms <= 0) {
		snprintf(out, size, "-");
		return out;
	}
	return fmt_elapsed(time_wall_ms() - ms, out, size);
}

const char *fmt_time(int64_t ms, char *out, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char day[32];
	if (ms <= 0 || !localtime_r(&secs, &tm) ||
	    !strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%s.%03d", day, (int)(ms % 1000));
	return out;
}

const char *fmt_us(int64_t us, char *out, size_t size)
{
	if (us < 1000)
		snprintf(out, size, "%lldus", (long long)us);
	else if (us < 1000000)
		snprintf(out, size, "%.1fms", (double)us / 1e3);
	else
		snprintf(out, size, "%.2fs", (double)us / 1e6);
	return out;
}

const char *fmt_bytes(int64_t n, char *out, size_t size)
{
	if (n < 1024)
		snprintf(out, size, "%lld B", (long long)n);
	else if (n < 1024 * 1024)
		snprintf(out, size, "%.1f KiB", (double)n / 1024);
	else
		snprintf(out, size, "%.1f MiB", (double)n / (1024 * 1024));
	return out;
}

const char *field_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int64_t field_int(const json_t *o, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return dflt;
}

bool field_bool(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

int print_json(const json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2)) < 0 || fputc('\n', stdout) == EOF)
		return -EIO;
	return 0;
}
