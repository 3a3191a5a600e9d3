/* Invocations sent to host agents over the link (lib/agent_link.h): one
 * persistent stream per agent address, opened on first use and again after
 * it broke (an agent restart), carrying every invocation to that agent at
 * once, each with an id. Any thread may call; callers queue their frames
 * and send them themselves when nobody else is and the socket takes them at
 * once, else a writer thread per stream sends all that are queued in one
 * write; a reader thread wakes each caller by its id. No lock is held
 * across I/O.
 *
 * The answers have the shapes link_do gives for POST /v1/vms/{vm}/invoke,
 * so verdict_classify reads them as it reads the HTTP ones. */
#ifndef DITTO_AGENT_STREAM_H
#define DITTO_AGENT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "link.h"
#include "store.h"
#include "verdict.h"

struct agent_streams;

/* Returns 0 with a set of streams for agent_streams_free, or -ENOMEM. */
int agent_streams_new(struct agent_streams **ret);
/* Closes every stream (calls in flight fail -ECONNRESET), waits for their
 * threads and frees. Accepts NULL. */
void agent_streams_free(struct agent_streams *s);

/* The body of a RESULT: the result then the log bytes. */
struct agent_stream_body {
	uint8_t *data; /* malloc'd, NULL when none */
	size_t len, result_len;
};

/* Invokes on the agent at c->address (with c->token; c->body and
 * c->body_len are the input; c->timeout_ms and c->gen bound the wait as in
 * link_do; method and path are not used) with meta, an INVOKE's
 * (agent_stream_meta). Returns what link_do would: 200 with the RESULT's
 * meta in *ret_json and its body in *ret_body, an error's HTTP status with
 * {"status","error":{"code","message"}} in *ret_json (an ERROR frame, or a
 * refused upgrade such as 401), or -errno with no answer: -ECONNREFUSED,
 * -EHOSTUNREACH, -ETIMEDOUT, -ECANCELED (the host's generation moved; the
 * agent is told to CANCEL), -ECONNRESET (the stream broke), -EPROTO (the
 * agent broke the protocol), -ENOMEM. *ret_rtt_us, when not NULL, gets the
 * call's round trip. The caller decrefs *ret_json and frees ret_body->data. */
int agent_stream_invoke(struct agent_streams *s, const struct link_call *c, const json_t *meta,
			json_t **ret_json, struct agent_stream_body *ret_body, int64_t *ret_rtt_us);

/* An invocation's call to its agent, as the invoker makes it: over the
 * stream when s is not NULL, else over HTTP with link_do(p) (c->path and
 * c->method unused: the HTTP invoke's path is invoker_agent_path's). The
 * returns are agent_stream_invoke's; over HTTP *ret_body stays empty. */
int agent_stream_call(struct agent_streams *s, struct link_pool *p, const struct link_call *c,
		      const struct store_function *fn, const char *id, const char *vm,
		      json_t **ret_json, struct agent_stream_body *ret_body, int64_t *ret_rtt_us);

/* The INVOKE meta for a version of fn on vm, with the parameters
 * invoker_agent_path puts in the HTTP query; NULL when out of memory. */
json_t *agent_stream_meta(const struct store_function *fn, const char *id, const char *vm);

/* After verdict_classify said the function ran (v->ran): gives v the
 * result and the log from a stream's body (which is emptied); an empty body
 * (an HTTP answer's) leaves v as it is. Returns 0 or -ENOMEM. */
int agent_stream_body_take(struct agent_stream_body *body, struct verdict *v);

#endif
