/* The guest end of the agent channel: finding and opening the virtio-serial
 * port, and framed, buffered, non-blocking I/O over it with lib/wire. */
#ifndef DITTO_GUEST_CHANNEL_H
#define DITTO_GUEST_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent_api.h"
#include "util.h"
#include "wire.h"

#define CHANNEL_PORT_NAME "ditto.0"

struct channel {
	int fd;
	/* True when EOF means the peer is gone for good (a socket or a pipe).
	 * On a virtio-serial port EOF only means the host side is not
	 * connected right now, and it may connect again. */
	bool eof_ends;
	struct wire_decoder dec;
	struct buf out; /* encoded frames not yet written */
	size_t out_off; /* bytes of out already written */
};

/* Finds the virtio-serial port called name under sysfs_root/class/virtio-ports
 * and writes its device path ("/dev/vportNpM") to ret_path. Returns 0,
 * -ENOENT when no port has that name, or -ENAMETOOLONG. */
int channel_find_port(const char *sysfs_root, const char *name, char *ret_path, size_t size);

/* Opens path read-write, non-blocking: a character device (the virtio port;
 * a terminal is put in raw mode), a FIFO, or a unix stream socket (connected
 * to). ret_eof_ends tells whether EOF on it is final: not on a character
 * device, whose peer may come back. Returns 0 or -errno. */
int channel_open_path(const char *path, int *ret_fd, bool *ret_eof_ends);

/* Takes over fd (made non-blocking) and sets up an empty channel whose
 * decoder rejects bodies over max_body. */
void channel_init(struct channel *c, int fd, bool eof_ends, uint32_t max_body);
/* Frees the buffers and closes the fd. */
void channel_fini(struct channel *c);

/* Queues one frame whose body is the concatenation of two pieces (either may
 * be empty), then tries to write. Returns 0, -EMSGSIZE or -ENOMEM (nothing
 * queued), or a write error from channel_flush(). */
int channel_send(struct channel *c, uint8_t type, uint32_t id, const char *meta, size_t meta_len,
		 const void *body1, size_t len1, const void *body2, size_t len2);

/* Queues one frame as channel_send() does, without writing: the caller
 * writes everything queued at once with channel_flush() (one write for a
 * burst). Returns 0, -EMSGSIZE or -ENOMEM (nothing queued). */
int channel_queue(struct channel *c, uint8_t type, uint32_t id, const char *meta, size_t meta_len,
		  const void *body1, size_t len1, const void *body2, size_t len2);

/* Writes queued bytes until done or the fd would block. Returns 0 (also when
 * bytes remain: wait for EPOLLOUT) or -errno for a write error. */
int channel_flush(struct channel *c);
/* True when queued bytes wait for the fd to become writable. */
bool channel_has_pending(const struct channel *c);

/* Reads one chunk into the decoder. Returns the bytes read (> 0), 0 at EOF,
 * -EAGAIN when nothing is available, or another -errno. */
ssize_t channel_read(struct channel *c);

/* What to answer a frame the decoder refused (wire_decoder_next's err): the
 * id (the frame's own when its header was well formed, else 0), the wire
 * error code and a message. */
struct channel_refusal {
	uint32_t id;
	enum agent_err code;
	char message[96];
};
void channel_refuse(int err, const struct wire_frame *f, struct channel_refusal *ret);

#endif
