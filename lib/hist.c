#include "hist.h"

#include <errno.h>

static const uint64_t bounds[HIST_BUCKETS - 1] = { 10,	 25,   50,   100,  250,
						   500,	 1000, 2500, 5000, 10000 };

uint64_t hist_bound(int i)
{
	return bounds[i];
}

void hist_add(struct hist *h, uint64_t v)
{
	int i = 0;
	while (i < HIST_BUCKETS - 1 && v > bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->count += from->count;
	into->sum += from->sum;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	/* The rank of the q-quantile, 1-based: the smallest observation with at
	 * least q of them at or below it. */
	double want = q * (double)h->count;
	uint64_t rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < HIST_BUCKETS - 1; i++) {
		seen += h->counts[i];
		if (seen >= rank)
			return bounds[i];
	}
	return UINT64_MAX;
}

json_t *hist_to_json(const struct hist *h)
{
	json_t *le = json_array(), *counts = json_array();
	uint64_t total = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		if (i < HIST_BUCKETS - 1)
			json_array_append_new(le, json_integer((json_int_t)bounds[i]));
		total += h->counts[i];
		json_array_append_new(counts, json_integer((json_int_t)total));
	}
	return json_pack("{s:o, s:o, s:I, s:I}", "le", le, "counts", counts, "count",
			 (json_int_t)h->count, "sum", (json_int_t)h->sum);
}

int hist_from_json(const json_t *o, struct hist *ret)
{
	const json_t *le = json_object_get(o, "le"), *counts = json_object_get(o, "counts");
	const json_t *count = json_object_get(o, "count"), *sum = json_object_get(o, "sum");
	if (json_array_size(le) != HIST_BUCKETS - 1 || json_array_size(counts) != HIST_BUCKETS ||
	    !json_is_integer(count) || !json_is_integer(sum) || json_integer_value(sum) < 0)
		return -EINVAL;
	struct hist h = { .count = (uint64_t)json_integer_value(count),
			  .sum = (uint64_t)json_integer_value(sum) };
	json_int_t prev = 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		const json_t *c = json_array_get(counts, (size_t)i);
		if (i < HIST_BUCKETS - 1 &&
		    json_integer_value(json_array_get(le, (size_t)i)) != (json_int_t)bounds[i])
			return -EINVAL;
		if (!json_is_integer(c) || json_integer_value(c) < prev)
			return -EINVAL;
		h.counts[i] = (uint64_t)(json_integer_value(c) - prev);
		prev = json_integer_value(c);
	}
	if ((uint64_t)prev != h.count)
		return -EINVAL;
	*ret = h;
	return 0;
}
