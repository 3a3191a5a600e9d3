#include "channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define READ_CHUNK (64u * 1024u)

int channel_find_port(const char *sysfs_root, const char *name, char *ret_path, size_t size)
{
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof(dir), "%s/class/virtio-ports", sysfs_root) >= sizeof(dir))
		return -ENAMETOOLONG;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int r = -ENOENT;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vport", 5) != 0)
			continue;
		char path[4096 + 256 + 8], got[256];
		snprintf(path, sizeof(path), "%s/%s/name", dir, de->d_name);
		if (file_read_text(path, got, sizeof(got)) < 0 || strcmp(got, name) != 0)
			continue;
		r = (size_t)snprintf(ret_path, size, "/dev/%s", de->d_name) < size ? 0
										   : -ENAMETOOLONG;
		break;
	}
	closedir(d);
	return r;
}

static int connect_unix(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int channel_open_path(const char *path, int *ret_fd, bool *ret_eof_ends)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	int fd = -1;
	if (S_ISSOCK(st.st_mode)) {
		int r = connect_unix(path, &fd);
		if (r < 0)
			return r;
	} else {
		fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		/* A terminal (a serial line, a pty) must pass bytes untouched:
		 * no echo, no line editing, no newline translation. */
		struct termios t;
		if (isatty(fd) && tcgetattr(fd, &t) == 0) {
			cfmakeraw(&t);
			if (tcsetattr(fd, TCSANOW, &t) < 0) {
				int r = -errno;
				close(fd);
				return r;
			}
		}
	}
	*ret_fd = fd;
	*ret_eof_ends = !S_ISCHR(st.st_mode);
	return 0;
}

void channel_init(struct channel *c, int fd, bool eof_ends, uint32_t max_body)
{
	*c = (struct channel){ .fd = fd, .eof_ends = eof_ends };
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	wire_decoder_init(&c->dec, max_body);
}

void channel_fini(struct channel *c)
{
	wire_decoder_free(&c->dec);
	buf_free(&c->out);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int channel_queue(struct channel *c, uint8_t type, uint32_t id, const char *meta, size_t meta_len,
		  const void *body1, size_t len1, const void *body2, size_t len2)
{
	/* Each part within the limit, so that their sum cannot overflow. */
	if (len1 > WIRE_MAX_BODY || len2 > WIRE_MAX_BODY)
		return -EMSGSIZE;
	uint8_t hdr[WIRE_HEADER_SIZE];
	int r = wire_header_encode(type, id, meta_len, len1 + len2, hdr);
	if (r < 0)
		return r;
	/* Drop what was written already so the buffer does not only grow. */
	if (c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	}
	size_t old_len = c->out.len;
	if (buf_append(&c->out, hdr, sizeof(hdr)) < 0 || buf_append(&c->out, meta, meta_len) < 0 ||
	    buf_append(&c->out, body1, len1) < 0 || buf_append(&c->out, body2, len2) < 0) {
		c->out.len = old_len;
		return -ENOMEM;
	}
	return 0;
}

int channel_send(struct channel *c, uint8_t type, uint32_t id, const char *meta, size_t meta_len,
		 const void *body1, size_t len1, const void *body2, size_t len2)
{
	int r = channel_queue(c, type, id, meta, meta_len, body1, len1, body2, len2);
	return r < 0 ? r : channel_flush(c);
}

int channel_flush(struct channel *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	/* Everything went out: give back a large buffer's memory. */
	if (c->out.cap > READ_CHUNK * 4)
		buf_free(&c->out);
	else
		buf_reset(&c->out);
	c->out_off = 0;
	return 0;
}

bool channel_has_pending(const struct channel *c)
{
	return c->out_off < c->out.len;
}

ssize_t channel_read(struct channel *c)
{
	uint8_t chunk[READ_CHUNK];
	ssize_t n;
	do
		n = read(c->fd, chunk, sizeof(chunk));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n > 0) {
		int r = wire_decoder_feed(&c->dec, chunk, (size_t)n);
		if (r < 0)
			return r;
	}
	return n;
}

void channel_refuse(int err, const struct wire_frame *f, struct channel_refusal *ret)
{
	struct channel_refusal r = { .id = f->hdr.id, .code = AGENT_E_MALFORMED };
	switch (err) {
	case WIRE_ETOOBIG:
		r.code = AGENT_E_TOO_BIG;
		snprintf(r.message, sizeof(r.message),
			 "meta of %u bytes or body of %u bytes over the limit", f->hdr.meta_len,
			 f->hdr.body_len);
		break;
	case WIRE_EBADTYPE:
		snprintf(r.message, sizeof(r.message), "unknown message type %u", f->hdr.type);
		break;
	default:
		r.id = 0;
		snprintf(r.message, sizeof(r.message), "%s",
			 err == WIRE_EBADMAGIC     ? "bad magic: skipping to the next frame"
			 : err == WIRE_EBADVERSION ? "unsupported protocol version"
						   : "reserved header bytes are not zero");
		break;
	}
	*ret = r;
}
