/* The agent's end of the virtio-serial channel to one guest: lib/wire frames
 * over a libuv pipe, requests matched to replies by id. */
#ifndef DITTO_GUEST_CHAN_H
#define DITTO_GUEST_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "wire.h"

struct guest_chan;

/* status: 0 for WIRE_REPLY, -EREMOTEIO for WIRE_ERROR (meta has code and
 * message), -ECONNRESET when the channel closed first, -ETIMEDOUT when the
 * request's deadline passed. frame and meta are NULL unless status is 0 or
 * -EREMOTEIO; they are valid only during the call (take a reference to keep
 * meta). */
typedef void (*guest_reply_fn)(struct guest_chan *ch, int status, const struct wire_frame *frame,
			       json_t *meta, void *data);

struct guest_chan_ops {
	/* An unsolicited frame from the guest (WIRE_HELLO, WIRE_CPU_EVENT, or an
	 * error about a malformed frame, id 0). meta may be NULL. */
	void (*message)(struct guest_chan *ch, const struct wire_frame *frame, json_t *meta,
			void *data);
	/* The channel is gone (peer hung up, I/O error, or a close was asked);
	 * called once, after every pending request had its callback. */
	void (*closed)(struct guest_chan *ch, int reason, void *data);
};

/* Takes ownership of a connected pipe and starts reading. Returns 0 or -ENOMEM. */
int guest_chan_open(uv_loop_t *loop, uv_pipe_t *pipe, const struct guest_chan_ops *ops, void *data,
		    struct guest_chan **ret);

/* Sends a request. meta is stolen (may be NULL for "{}"); body is copied.
 * timeout_ms 0 means no deadline. Returns 0 and later calls cb exactly once,
 * or returns <0 (-ENOTCONN, -EMSGSIZE, -ENOMEM) without calling cb. */
int guest_chan_request(struct guest_chan *ch, uint8_t type, json_t *meta, const void *body,
		       size_t body_len, uint64_t timeout_ms, guest_reply_fn cb, void *data);

/* From now on appends every byte the agent writes to the guest to
 * DIR/NAME.to-guest and every byte it reads from it to DIR/NAME.from-guest
 * (created 0600 when missing, opened O_APPEND, so a VM's restarts add to
 * them). A debugging aid: a failed write to them is ignored. Returns 0 or
 * -errno (then nothing is captured). */
int guest_chan_capture(struct guest_chan *ch, const char *dir, const char *name);

/* Fails pending requests with -ECONNRESET, then closes; frees itself when
 * libuv has closed the pipe. Safe to call from a callback. */
void guest_chan_close(struct guest_chan *ch);

#endif
