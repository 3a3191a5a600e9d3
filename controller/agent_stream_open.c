/* Opening a stream to an agent (agent_stream_int.h): the connection, the
 * upgrade and HELLO, on the caller's thread with bounded waits. */
#include "agent_stream_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_link.h"
#include "util.h"

/* How long opening a stream may take: the connection, the 101 and HELLO. */
#define OPEN_TIMEOUT_MS 5000

bool agent_stream_send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Splits "http://host:port" (a path after it is ignored). */
static int address_split(const char *address, char *host, size_t hsize, char *port, size_t psize)
{
	const char *p = strncmp(address, "http://", 7) == 0 ? address + 7 : address;
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= hsize || p[hl] != ':')
		return -EINVAL;
	memcpy(host, p, hl);
	host[hl] = '\0';
	size_t pl = strspn(p + hl + 1, "0123456789");
	if (pl == 0 || pl >= psize)
		return -EINVAL;
	memcpy(port, p + hl + 1, pl);
	port[pl] = '\0';
	return 0;
}

/* Connects with a timeout; returns the socket (blocking) or -errno. */
static int dial(const char *address)
{
	char host[256], port[16];
	if (address_split(address, host, sizeof(host), port, sizeof(port)) < 0)
		return -EINVAL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = fd < 0 ? -errno : 0;
	if (r == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		r = errno == EINPROGRESS ? 1 : -errno;
	freeaddrinfo(ai);
	if (r == 1) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof(err);
		if (poll(&p, 1, OPEN_TIMEOUT_MS) <= 0)
			err = ETIMEDOUT;
		else
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		r = -err;
	}
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Blocking from here; the handshake's reads are bounded. */
	struct timeval tv = { .tv_sec = OPEN_TIMEOUT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* Reads the answer to the upgrade into got until its head is in. Returns
 * the head's length (status and Content-Length filled) or -errno. */
static int read_head(int fd, struct buf *got, int *status, size_t *clen)
{
	for (;;) {
		int r = link_upgrade_response((const char *)got->data, got->len, status, clen);
		if (r != 0)
			return r;
		if (buf_reserve(got, 4096) < 0)
			return -ENOMEM;
		ssize_t n = read(fd, got->data + got->len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (errno == EAGAIN ? -ETIMEDOUT : -errno);
		got->len += (size_t)n;
	}
}

/* Reads a refused upgrade's body (its JSON error) after the head. */
static json_t *read_refusal(int fd, struct buf *got, size_t head, size_t clen)
{
	while (got->len < head + clen) {
		if (buf_reserve(got, head + clen - got->len) < 0)
			return NULL;
		ssize_t n = read(fd, got->data + got->len, head + clen - got->len);
		if (n <= 0)
			return NULL;
		got->len += (size_t)n;
	}
	return json_loadb((const char *)got->data + head, clen, 0, NULL);
}

/* Reads frames into dec until HELLO; returns 0 with its window or -errno. */
static int read_hello(int fd, struct wire_decoder *dec, unsigned *window)
{
	uint8_t buf[4096];
	for (;;) {
		struct wire_frame f;
		int r = wire_decoder_next(dec, &f);
		if (r < 0 || (r == 1 && f.hdr.type != WIRE_LINK_HELLO))
			return -EPROTO;
		if (r == 1) {
			json_t *m = link_meta_parse(&f);
			r = m ? link_hello_parse(m, window) : -EPROTO;
			json_decref(m);
			return r;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (errno == EAGAIN ? -ETIMEDOUT : -errno);
		if (wire_decoder_feed(dec, buf, (size_t)n) < 0)
			return -ENOMEM;
	}
}

int agent_stream_handshake(const char *address, const char *token, struct wire_decoder *dec,
			   unsigned *ret_window, int *ret_fd, json_t **ret_json)
{
	int fd = dial(address);
	if (fd < 0)
		return fd;
	char host[256], port[16], req[2048];
	address_split(address, host, sizeof(host), port, sizeof(port));
	int n = link_upgrade_request(req, sizeof(req), host, token);
	struct buf got = { 0 };
	int status = 0;
	size_t clen = 0;
	int r = n < 0 ? n : agent_stream_send_all(fd, (const uint8_t *)req, (size_t)n) ? 0 : -ECONNRESET;
	int head = r < 0 ? r : read_head(fd, &got, &status, &clen);
	if (head >= 0 && status != 101) {
		*ret_json = read_refusal(fd, &got, (size_t)head, clen);
		r = status;
	} else if (head < 0) {
		r = head;
	} else {
		wire_decoder_init_proto(dec, WIRE_PROTO_LINK, WIRE_MAX_BODY);
		r = wire_decoder_feed(dec, got.data + head, got.len - (size_t)head);
		if (r == 0)
			r = read_hello(fd, dec, ret_window);
		if (r < 0)
			wire_decoder_free(dec);
	}
	buf_free(&got);
	if (r != 0) {
		close(fd);
		return r;
	}
	struct timeval none = { 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	*ret_fd = fd;
	return 0;
}
