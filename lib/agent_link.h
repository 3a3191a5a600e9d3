/* The controller <-> agent link: one persistent stream per host carrying
 * many invocations at once, each with an id, in lib/wire.h's frames (the
 * same 20-byte versioned header; the WIRE_LINK_* type set, decoded with
 * wire_decoder_init_proto(WIRE_PROTO_LINK)).
 *
 * The stream opens as an HTTP request to the agent's API port,
 *
 *   GET /v1/link HTTP/1.1
 *   Connection: Upgrade
 *   Upgrade: ditto-link/1
 *   Authorization: Bearer TOKEN
 *
 * checked like any other route (once, for the whole connection); the agent
 * answers 101 Switching Protocols and from then on both sides send frames:
 *
 *   WIRE_LINK_HELLO  agent -> controller, id 0, first: {"version":1,
 *                    "window":N}: at most N invocations in flight on this
 *                    stream (the controller waits for room past it; the
 *                    agent refuses one over it with 429 too_many_requests).
 *   WIRE_LINK_INVOKE controller -> agent, a fresh id: the parameters of
 *                    POST /v1/vms/{vm}/invoke as a JSON object ("vm" and
 *                    the query's names: "artifact", "mode", "timeout_ms",
 *                    "memory_mib", "max_output", "cpu", "invocation", "e2e",
 *                    "runtime", "handler"; integers as numbers, e2e as a
 *                    boolean); body: the input, opaque.
 *   WIRE_LINK_RESULT agent -> controller, the INVOKE's id: the HTTP 200
 *                    reply's object without "result", "log" and their
 *                    encodings, with "result_len"; body: the result bytes
 *                    then the log bytes, as the guest gave them.
 *   WIRE_LINK_ERROR  agent -> controller, the INVOKE's id: {"status":N,
 *                    "error":{"code","message"}}: the HTTP error reply's
 *                    status and body.
 *   WIRE_LINK_CANCEL controller -> agent, the INVOKE's id, {}: the caller
 *                    gave up; the agent answers it at once with ERROR 409
 *                    cancelled (unless its answer went out already) and
 *                    drops the guest's later answer.
 *
 * Payloads are never parsed or rebuilt on the way: input and result are
 * frame bodies. This file is a pure codec: no I/O. */
#ifndef DITTO_AGENT_LINK_H
#define DITTO_AGENT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"
#include "wire.h"

#define LINK_PATH "/v1/link"
#define LINK_UPGRADE "ditto-link/1"
#define LINK_VERSION 1
/* The window an agent announces unless told otherwise. */
#define LINK_WINDOW_DEFAULT 1024
/* The largest window either side accepts. */
#define LINK_WINDOW_MAX 65536

/* Appends one frame (header, meta, body) to out, so several ready frames
 * leave in one write. Returns 0, -EINVAL for a type that is not a link
 * type, -EMSGSIZE over the protocol's limits or -ENOMEM; out is unchanged
 * on failure. */
int link_frame_append(struct buf *out, uint8_t type, uint32_t id, const char *meta, size_t meta_len,
		      const void *body, size_t body_len);

/* The same with meta a JSON object (borrowed), written compact. */
int link_frame_append_json(struct buf *out, uint8_t type, uint32_t id, const json_t *meta,
			   const void *body, size_t body_len);

/* A frame's meta as a JSON object (a new reference), or NULL when it is not
 * one; an empty meta section reads as {}. */
json_t *link_meta_parse(const struct wire_frame *f);

/* HELLO's meta for a window of n. */
json_t *link_hello_meta(unsigned window);
/* Reads a HELLO's meta: 0 with *ret_window (1..LINK_WINDOW_MAX), or
 * -EPROTO (not a HELLO's, another version, a window out of range). */
int link_hello_parse(const json_t *meta, unsigned *ret_window);

/* The parameters of an invocation, as POST /v1/vms/{vm}/invoke takes them. */
struct link_invoke {
	const char *vm;
	const char *artifact;
	const char *mode;       /* NULL: not sent */
	unsigned timeout_ms;    /* 0: not sent */
	unsigned memory_mib;    /* 0: not sent */
	const char *invocation; /* NULL: not sent */
	bool e2e;               /* sent when true */
	const char *runtime;    /* NULL: not sent */
	const char *handler;    /* sent with runtime; NULL: "" */
};

/* INVOKE's meta for p (a new reference), NULL when out of memory. */
json_t *link_invoke_meta(const struct link_invoke *p);

/* One parameter of an INVOKE's meta as the HTTP query would carry it: a
 * string as it is, an integer in decimal and a boolean as "1"/"0", written
 * into scratch when needed; NULL when absent; "" for any other JSON type
 * (which no parameter accepts). */
const char *link_param(const json_t *meta, const char *key, char *scratch, size_t size);

/* Where a RESULT's body splits: 0 with *ret_result_len (the result's bytes;
 * the rest is the log), or -EPROTO when meta has no "result_len" within
 * body_len. */
int link_result_split(const json_t *meta, size_t body_len, size_t *ret_result_len);

/* ERROR's meta (a new reference) for an HTTP error reply's status and body
 * (borrowed: {"error":{"code","message"}}). */
json_t *link_error_meta(unsigned status, const json_t *reply);
/* An ERROR's HTTP status (400..599), or -EPROTO. */
int link_error_status(const json_t *meta);

/* The request that opens the link on host (the Host header) with token
 * (NULL or "": none), written into out. Returns its length, or
 * -ENAMETOOLONG when it does not fit. */
int link_upgrade_request(char *out, size_t size, const char *host, const char *token);

/* Reads the answer to that request from the n bytes received so far:
 * returns the length of its head (through the blank line) with its status
 * and Content-Length (0 when none) filled, 0 when more bytes are needed, or
 * -EPROTO when it is not an HTTP/1.x answer (or its head is over 16 KiB). */
int link_upgrade_response(const char *p, size_t n, int *ret_status, size_t *ret_content_length);

#endif
