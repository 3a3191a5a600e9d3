/* What the cluster tests read of a controller: GET /v1/controllers. */
#ifndef DITTO_TESTS_CLUSTER_VIEW_H
#define DITTO_TESTS_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "support/http.h"

/* One controller's view: how many it lists live, whether it leads, the
 * leader it names ("" when none), and the epoch. */
struct view {
	long status;
	int listed, live;
	bool self_leader;
	char leader[64];
	char self[64];
	long long epoch;
};

static inline void view_get(const char *url, const char *admin, struct view *v)
{
	struct http_reply r;
	memset(v, 0, sizeof(*v));
	v->status = http_call(url, admin, "GET", "/v1/controllers", NULL, 0, &r);
	json_t *list = r.json ? json_object_get(r.json, "controllers") : NULL;
	v->epoch = r.json ? (long long)json_integer_value(json_object_get(r.json, "epoch")) : 0;
	size_t i;
	json_t *m;
	json_array_foreach(list, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "id"));
		bool self = json_is_true(json_object_get(m, "self"));
		bool leader = json_is_true(json_object_get(m, "leader"));
		v->listed++;
		v->live += json_is_true(json_object_get(m, "live"));
		if (leader && id)
			snprintf(v->leader, sizeof(v->leader), "%s", id);
		if (self && id) {
			snprintf(v->self, sizeof(v->self), "%s", id);
			v->self_leader = leader;
		}
	}
	http_reply_free(&r);
}

#endif
