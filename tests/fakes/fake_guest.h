/* A scripted guest worker for the agent's guest channel, on the other end of
 * a socket pair, on the test's own libuv loop. It records every frame the
 * agent sends. In auto mode it also answers each request at once, with the
 * reply set for its type (fake_guest_on), an empty WIRE_REPLY by default, or
 * holds it for the test to answer (fake_guest_answer). The test sends
 * whatever else the guest would (fake_guest_send: HELLO, CPU events...).
 * Unless told otherwise it answers WIRE_ATTEST as a guest without SNP does:
 * evidence of type none with FAKE_GUEST_PUBLIC_KEY.
 *
 * Failures are test failures (cmocka). */
#ifndef DITTO_TESTS_FAKE_GUEST_H
#define DITTO_TESTS_FAKE_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "guest_chan.h"
#include "wire.h"

#define FAKE_GUEST_MAX_FRAMES 128
/* The X25519 public key the fake reports in its evidence (type "none"),
 * the answer to WIRE_ATTEST unless a rule says otherwise. */
#define FAKE_GUEST_PUBLIC_KEY "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"

struct fake_guest_frame {
	uint8_t type;
	uint32_t id;
	json_t *meta; /* {} when the frame had none */
	size_t body_len;
};

struct fake_guest_rule {
	bool set;
	bool hold;
	uint8_t type; /* WIRE_REPLY or WIRE_ERROR */
	char *meta;
	uint8_t *body; /* body_len bytes sent with the reply */
	size_t body_len;
};

struct fake_guest {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	bool open;
	bool autoreply;
	struct wire_decoder dec;
	struct fake_guest_frame frames[FAKE_GUEST_MAX_FRAMES];
	size_t n_frames;
	struct fake_guest_rule rules[256]; /* by request type */
	char rbuf[65536];
};

/* Connects a new channel (ops, data as for guest_chan_open) to the fake and
 * returns it in *ret. */
void fake_guest_open(struct fake_guest *g, uv_loop_t *loop, bool autoreply,
		     const struct guest_chan_ops *ops, void *data, struct guest_chan **ret);

/* Closes the fake's end (the agent sees the guest hang up) and frees what it
 * holds; the pipe is closed by the next turns of the loop. */
void fake_guest_close(struct fake_guest *g);

/* Sends a frame with meta (JSON text) and no body, or with len bytes of body. */
void fake_guest_send(struct fake_guest *g, uint8_t type, uint32_t id, const char *meta);
void fake_guest_send_body(struct fake_guest *g, uint8_t type, uint32_t id, const char *meta,
			  const void *body, size_t len);

/* Auto mode: how to answer requests of type from now on: a WIRE_REPLY with
 * meta, or NULL to hold them; fake_guest_on_error answers a WIRE_ERROR with
 * that code. */
void fake_guest_on(struct fake_guest *g, uint8_t type, const char *meta);
void fake_guest_on_error(struct fake_guest *g, uint8_t type, const char *code);
/* The same as fake_guest_on with a body of len bytes (copied) after meta. */
void fake_guest_on_body(struct fake_guest *g, uint8_t type, const char *meta, const void *body,
			size_t len);

/* The frames received: how many of a type, the i-th one, its "cpu". */
size_t fake_guest_count(const struct fake_guest *g, uint8_t type);
const struct fake_guest_frame *fake_guest_frame(const struct fake_guest *g, size_t i);
int fake_guest_cpu(const struct fake_guest *g, size_t i);

/* Runs the loop until n frames in all, or n of type, have been received. */
void fake_guest_wait_frames(struct fake_guest *g, size_t n);
void fake_guest_wait_type(struct fake_guest *g, uint8_t type, size_t n);

/* Answers the i-th frame with a WIRE_REPLY carrying meta. */
void fake_guest_answer(struct fake_guest *g, size_t i, const char *meta);

#endif
