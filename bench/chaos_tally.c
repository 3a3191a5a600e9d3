/* ditto-bench chaos, the pure part: fault kinds, judging answers and async
 * records, the counts per kind and their report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "chaos.h"
#include "util.h"

static const char *const kind_names[CHAOS_KINDS] = { "qemu",   "agent",    "controller",
						     "freeze", "postgres", "controller2" };

const char *chaos_kind_name(enum chaos_kind k)
{
	return (unsigned)k < CHAOS_KINDS ? kind_names[k] : "none";
}

int chaos_kinds_parse(const char *list, enum chaos_kind ret[CHAOS_KINDS], int *ret_n)
{
	bool seen[CHAOS_KINDS] = { false };
	int n = 0;
	const char *p = list;
	for (;;) {
		size_t len = strcspn(p, ",");
		int k;
		for (k = 0; k < CHAOS_KINDS; k++)
			if (strlen(kind_names[k]) == len && !strncmp(p, kind_names[k], len))
				break;
		if (k == CHAOS_KINDS || seen[k])
			return -EINVAL;
		seen[k] = true;
		ret[n++] = (enum chaos_kind)k;
		if (!p[len])
			break;
		p += len + 1;
	}
	*ret_n = n;
	return 0;
}

int chaos_kinds_check(const enum chaos_kind *kinds, int n, bool postgres, int controllers,
		      char *err, size_t size)
{
	if (controllers < 1 || controllers > BENCH_CONTROLLERS_MAX) {
		snprintf(err, size, "--controllers must be 1..%d", BENCH_CONTROLLERS_MAX);
		return -EINVAL;
	}
	if (controllers > 1 && !postgres) {
		snprintf(err, size, "--controllers %d needs --store postgres", controllers);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (kinds[i] == CHAOS_POSTGRES && !postgres) {
			snprintf(err, size, "--kinds postgres needs --store postgres");
			return -EINVAL;
		}
		if (kinds[i] == CHAOS_CONTROLLER2 && (!postgres || controllers != 2)) {
			snprintf(err, size,
				 "--kinds controller2 needs --store postgres --controllers 2");
			return -EINVAL;
		}
	}
	return 0;
}

static const char *net_code(enum chaos_net net)
{
	switch (net) {
	case CHAOS_NET_REFUSED: return "connection_refused";
	case CHAOS_NET_RESET: return "connection_reset";
	case CHAOS_NET_TIMEOUT: return "timeout";
	default: return NULL;
	}
}

/* A failed answer's verdict: its transport error, or the code of its JSON
 * error body, else unclear. */
static enum chaos_verdict failure(const struct chaos_answer *a, char *code)
{
	const char *net = net_code(a->net);
	if (net) {
		snprintf(code, CHAOS_CODE_SIZE, "%s", net);
		return CHAOS_FAILED;
	}
	json_t *body = a->body ? json_loadb(a->body, a->len, 0, NULL) : NULL;
	const char *c = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
	enum chaos_verdict v = c && *c ? CHAOS_FAILED : CHAOS_UNCLEAR;
	if (v == CHAOS_FAILED)
		snprintf(code, CHAOS_CODE_SIZE, "%s", c);
	else
		snprintf(code, CHAOS_CODE_SIZE, "unclear_http_%ld", a->http);
	json_decref(body);
	return v;
}

enum chaos_verdict chaos_sync_judge(const struct chaos_answer *a, const char *want, char *code)
{
	code[0] = '\0';
	if (a->net != CHAOS_NET_OK || a->http != 200)
		return failure(a, code);
	size_t n = strlen(want);
	if (a->len == n && a->body && !memcmp(a->body, want, n))
		return CHAOS_OK;
	snprintf(code, CHAOS_CODE_SIZE, "wrong_result");
	return CHAOS_UNCLEAR;
}

enum chaos_verdict chaos_submit_judge(const struct chaos_answer *a, char id[33], char *code)
{
	code[0] = '\0';
	id[0] = '\0';
	if (a->net != CHAOS_NET_OK || a->http != 202)
		return failure(a, code);
	json_t *body = a->body ? json_loadb(a->body, a->len, 0, NULL) : NULL;
	const char *s = json_string_value(json_object_get(body, "id"));
	bool ok = s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
	if (ok)
		memcpy(id, s, 33);
	else
		snprintf(code, CHAOS_CODE_SIZE, "202_without_id");
	json_decref(body);
	return ok ? CHAOS_OK : CHAOS_UNCLEAR;
}

static bool is_terminal(const char *status)
{
	return !strcmp(status, "ok") || !strcmp(status, "error") || !strcmp(status, "timeout");
}

void chaos_async_observe(struct chaos_async *a, const char *status, int64_t finished_ms,
			 bool own_result)
{
	if (!is_terminal(status)) {
		if (a->terminal)
			a->changed = true;
		return;
	}
	if (!a->terminal) {
		a->terminal = true;
		snprintf(a->status, sizeof(a->status), "%s", status);
		a->finished_ms = finished_ms;
	} else if (strcmp(a->status, status) != 0 || a->finished_ms != finished_ms) {
		a->changed = true;
	}
	if (!strcmp(status, "ok") && !own_result)
		a->foreign = true;
}

void chaos_async_gone(struct chaos_async *a)
{
	a->gone = true;
}

enum chaos_async_end chaos_async_end(const struct chaos_async *a)
{
	if (a->changed || a->foreign)
		return CHAOS_TWICE;
	if (!a->terminal)
		return CHAOS_LOST;
	return !strcmp(a->status, "ok") ? CHAOS_COMPLETED : CHAOS_ASYNC_FAILED;
}

void chaos_tally_code(struct chaos_tally *t, const char *code)
{
	int i;
	for (i = 0; i < t->n_codes && strcmp(t->code[i], code) != 0; i++)
		;
	if (i == t->n_codes) {
		if (t->n_codes == CHAOS_CODES)
			i = CHAOS_CODES - 1, code = "other";
		else
			t->n_codes++;
		snprintf(t->code[i], CHAOS_CODE_SIZE, "%s", code);
	}
	t->code_n[i]++;
}

int chaos_tally_recovered(struct chaos_tally *t, double ms)
{
	if (array_reserve(&t->recover_ms, &t->cap_recover, t->n_recover + 1, sizeof(*t->recover_ms),
			  64) < 0)
		return -ENOMEM;
	t->recover_ms[t->n_recover++] = ms;
	return 0;
}

int chaos_tally_failover(struct chaos_tally *t, double ms)
{
	if (array_reserve(&t->failover_ms, &t->cap_failover, t->n_failover + 1,
			  sizeof(*t->failover_ms), 64) < 0)
		return -ENOMEM;
	t->failover_ms[t->n_failover++] = ms;
	return 0;
}

void chaos_tally_async(struct chaos_tally *t, enum chaos_async_end e)
{
	switch (e) {
	case CHAOS_COMPLETED: t->async_completed++; break;
	case CHAOS_TWICE: t->async_twice++; break;
	case CHAOS_ASYNC_FAILED:
		/* Failed is the part of lost whose record says why. */
		t->async_failed++;
		t->async_lost++;
		break;
	default: t->async_lost++; break;
	}
}

void chaos_tally_free(struct chaos_tally *t)
{
	free(t->recover_ms);
	free(t->failover_ms);
	memset(t, 0, sizeof(*t));
}

bool chaos_tally_clean(const struct chaos_tally *t)
{
	return t->async_lost == 0 && t->async_twice == 0 && t->sync_unclear == 0 &&
	       t->async_unclear == 0;
}

/* The stats of ms[0..n), left as they are (stats_compute sorts). */
static void ms_stats(const double *ms, size_t n, struct stats *ret)
{
	double *v = malloc((n ? n : 1) * sizeof(*v));
	memset(ret, 0, sizeof(*ret));
	if (!v)
		return;
	if (n)
		memcpy(v, ms, n * sizeof(*v));
	stats_compute(v, n, ret);
	free(v);
}

static void recover_stats(const struct chaos_tally *t, struct stats *ret)
{
	ms_stats(t->recover_ms, t->n_recover, ret);
}

static json_t *tally_json(const struct chaos_tally *t)
{
	json_t *codes = json_object();
	for (int i = 0; i < t->n_codes; i++)
		json_object_set_new(codes, t->code[i], json_integer(t->code_n[i]));
	struct stats s;
	recover_stats(t, &s);
	return json_pack(
		"{s:i, s:{s:I, s:I, s:I, s:I, s:o}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
		" s:{s:i, s:i, s:i}}",
		"faults", t->faults, "sync", "sent", (json_int_t)t->sync_sent, "ok",
		(json_int_t)t->sync_ok, "failed", (json_int_t)t->sync_failed, "unclear",
		(json_int_t)t->sync_unclear, "codes", codes, "async", "sent",
		(json_int_t)t->async_sent, "accepted", (json_int_t)t->async_accepted, "refused",
		(json_int_t)t->async_refused, "unclear", (json_int_t)t->async_unclear, "completed",
		(json_int_t)t->async_completed, "failed", (json_int_t)t->async_failed, "lost",
		(json_int_t)t->async_lost, "twice", (json_int_t)t->async_twice, "recover_ms", "p50",
		(int)(s.p50 + 0.5), "p90", (int)(s.p90 + 0.5), "max", (int)(s.max + 0.5));
}

json_t *chaos_report_json(const struct chaos_report *r)
{
	json_t *kinds = json_array();
	for (int i = 0; i < r->n_kinds; i++) {
		json_t *k = tally_json(&r->tally[r->kinds[i]]);
		json_object_set_new(k, "kind", json_string(chaos_kind_name(r->kinds[i])));
		if (r->kinds[i] == CHAOS_CONTROLLER2) {
			const struct chaos_tally *t = &r->tally[r->kinds[i]];
			struct stats s;
			ms_stats(t->failover_ms, t->n_failover, &s);
			json_object_set_new(k, "failover_ms",
					    json_pack("{s:i, s:i}", "p50", (int)(s.p50 + 0.5),
						      "max", (int)(s.max + 0.5)));
		}
		json_array_append_new(kinds, k);
	}
	json_t *before = tally_json(&r->before);
	json_object_del(before, "faults");
	json_object_del(before, "recover_ms");
	return json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:o, s:o}", "accel", r->accel,
			 "faults_per_kind", r->faults_per_kind, "rate", r->rate, "async_share",
			 r->async_share, "freeze_s", r->freeze_s, "settle_s", r->settle_s,
			 "elapsed_s", r->elapsed_s, "kinds", kinds, "before_faults", before);
}

static void print_codes(const struct chaos_tally *t)
{
	for (int i = 0; i < t->n_codes; i++)
		printf("%s%s %ld", i ? ", " : "", t->code[i], t->code_n[i]);
	if (!t->n_codes)
		printf("-");
	printf("\n");
}

void chaos_report_print(const struct chaos_report *r)
{
	printf("ditto-bench chaos: accel=%s, %d faults per kind, %.0f calls/s (%.0f %% async), "
	       "freeze %.0f s, settle %.0f s, %.0f s in all\n\n",
	       r->accel, r->faults_per_kind, r->rate, r->async_share * 100, r->freeze_s,
	       r->settle_s, r->elapsed_s);
	printf("%-11s %6s | %6s %6s %6s %7s | %6s %6s %6s %6s %6s | %7s %7s %7s\n", "fault",
	       "faults", "sync", "ok", "failed", "unclear", "async", "done", "failed", "lost",
	       "twice", "rec p50", "rec p90", "rec max");
	for (int i = 0; i < r->n_kinds; i++) {
		const struct chaos_tally *t = &r->tally[r->kinds[i]];
		struct stats s;
		recover_stats(t, &s);
		printf("%-11s %6d | %6ld %6ld %6ld %7ld | %6ld %6ld %6ld %6ld %6ld | %7.0f %7.0f "
		       "%7.0f\n",
		       chaos_kind_name(r->kinds[i]), t->faults, t->sync_sent, t->sync_ok,
		       t->sync_failed, t->sync_unclear, t->async_accepted, t->async_completed,
		       t->async_failed, t->async_lost, t->async_twice, s.p50, s.p90, s.max);
	}
	printf("(async: accepted with 202; lost counts every accepted call not completed with its "
	       "own result,\n failed the part of them whose record ended in an error; rec: ms from "
	       "the fault to the\n first synchronous success after it)\n\n");
	for (int i = 0; i < r->n_kinds; i++) {
		const struct chaos_tally *t = &r->tally[r->kinds[i]];
		printf("%-11s sync failures by code: ", chaos_kind_name(r->kinds[i]));
		print_codes(t);
		if (r->kinds[i] == CHAOS_CONTROLLER2) {
			struct stats s;
			ms_stats(t->failover_ms, t->n_failover, &s);
			printf("%-11s leader failover ms: p50 %.0f, max %.0f\n", "", s.p50, s.max);
		}
		if (t->async_refused)
			printf("%-11s async submissions refused: %ld (%ld unclear)\n", "",
			       t->async_refused, t->async_unclear);
	}
	const struct chaos_tally *b = &r->before;
	printf("before the first fault: %ld sync (%ld ok), %ld async accepted (%ld completed)\n",
	       b->sync_sent, b->sync_ok, b->async_accepted, b->async_completed);
}
