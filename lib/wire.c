#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_LEN 4
/* Buffer capacity kept between frames; larger buffers are freed when empty. */
#define KEEP_CAP (256u * 1024u)

static const char *const type_names[] = {
	[WIRE_HELLO] = "hello",
	[WIRE_CPU_EVENT] = "cpu_event",
	[WIRE_REPLY] = "reply",
	[WIRE_ERROR] = "error",
	[WIRE_PING] = "ping",
	[WIRE_CPU_ACTIVATE] = "cpu_activate",
	[WIRE_CPU_STANDBY] = "cpu_standby",
	[WIRE_CPU_OFFLINE] = "cpu_offline",
	[WIRE_CPU_RELEASE] = "cpu_release",
	[WIRE_ARTIFACT_PUT] = "artifact_put",
	[WIRE_INVOKE] = "invoke",
	[WIRE_STATUS] = "status",
	[WIRE_ATTEST] = "attest",
	[WIRE_LINK_HELLO] = "link_hello",
	[WIRE_LINK_INVOKE] = "link_invoke",
	[WIRE_LINK_RESULT] = "link_result",
	[WIRE_LINK_ERROR] = "link_error",
	[WIRE_LINK_CANCEL] = "link_cancel",
};

const char *wire_type_name(uint8_t type)
{
	if (type >= ARRAY_SIZE(type_names))
		return NULL;
	return type_names[type];
}

bool wire_type_in(uint8_t proto, uint8_t type)
{
	if (wire_type_name(type) == NULL)
		return false;
	switch (proto) {
	case WIRE_PROTO_GUEST: return type <= WIRE_ATTEST;
	case WIRE_PROTO_LINK: return type >= WIRE_LINK_HELLO;
	default: return false;
	}
}

bool wire_type_is_known(uint8_t type)
{
	return wire_type_in(WIRE_PROTO_GUEST, type);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void wire_header_pack(const struct wire_header *h, uint8_t out[WIRE_HEADER_SIZE])
{
	memcpy(out, WIRE_MAGIC, MAGIC_LEN);
	out[4] = h->version;
	out[5] = h->type;
	put_le16(out + 6, 0);
	put_le32(out + 8, h->id);
	put_le32(out + 12, h->meta_len);
	put_le32(out + 16, h->body_len);
}

int wire_header_unpack(const uint8_t in[WIRE_HEADER_SIZE], uint32_t max_body,
		       struct wire_header *ret)
{
	return wire_header_unpack_proto(in, WIRE_PROTO_GUEST, max_body, ret);
}

int wire_header_unpack_proto(const uint8_t in[WIRE_HEADER_SIZE], uint8_t proto, uint32_t max_body,
			     struct wire_header *ret)
{
	if (memcmp(in, WIRE_MAGIC, MAGIC_LEN) != 0)
		return WIRE_EBADMAGIC;
	if (in[4] != WIRE_VERSION)
		return WIRE_EBADVERSION;
	if (get_le16(in + 6) != 0)
		return WIRE_ERESERVED;
	struct wire_header h = {
		.version = in[4],
		.type = in[5],
		.id = get_le32(in + 8),
		.meta_len = get_le32(in + 12),
		.body_len = get_le32(in + 16),
	};
	*ret = h;
	if (!wire_type_in(proto, h.type))
		return WIRE_EBADTYPE;
	if (h.meta_len > WIRE_MAX_META || h.body_len > max_body)
		return WIRE_ETOOBIG;
	return 0;
}

int wire_header_encode(uint8_t type, uint32_t id, size_t meta_len, size_t body_len,
		       uint8_t out[WIRE_HEADER_SIZE])
{
	if (meta_len > WIRE_MAX_META || body_len > WIRE_MAX_BODY)
		return -EMSGSIZE;
	struct wire_header h = {
		.version = WIRE_VERSION,
		.type = type,
		.id = id,
		.meta_len = (uint32_t)meta_len,
		.body_len = (uint32_t)body_len,
	};
	wire_header_pack(&h, out);
	return 0;
}

int wire_encode(uint8_t type, uint32_t id, const char *meta, size_t meta_len, const void *body,
		size_t body_len, uint8_t **ret, size_t *ret_len)
{
	if (!wire_type_is_known(type))
		return -EINVAL;
	uint8_t hdr[WIRE_HEADER_SIZE];
	int r = wire_header_encode(type, id, meta_len, body_len, hdr);
	if (r < 0)
		return r;
	size_t total = WIRE_HEADER_SIZE + meta_len + body_len;
	uint8_t *buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, hdr, sizeof(hdr));
	if (meta_len)
		memcpy(buf + WIRE_HEADER_SIZE, meta, meta_len);
	if (body_len)
		memcpy(buf + WIRE_HEADER_SIZE + meta_len, body, body_len);
	*ret = buf;
	*ret_len = total;
	return 0;
}

void wire_decoder_init_proto(struct wire_decoder *d, uint8_t proto, uint32_t max_body)
{
	*d = (struct wire_decoder){ .max_body = max_body, .proto = proto };
}

void wire_decoder_init(struct wire_decoder *d, uint32_t max_body)
{
	wire_decoder_init_proto(d, WIRE_PROTO_GUEST, max_body);
}

void wire_decoder_free(struct wire_decoder *d)
{
	buf_free(&d->buf);
	wire_decoder_init_proto(d, d->proto, d->max_body);
}

/* Drops up to n bytes of a frame being skipped from the front of the input,
 * returning how many were dropped. */
static size_t drop_skipped(struct wire_decoder *d, size_t n)
{
	size_t k = d->skip < n ? (size_t)d->skip : n;
	d->skip -= k;
	return k;
}

int wire_decoder_feed(struct wire_decoder *d, const void *data, size_t len)
{
	const uint8_t *p = data;
	/* Skipped bytes that are not behind buffered ones never need storing. */
	if (d->skip && d->off == d->buf.len) {
		size_t k = drop_skipped(d, len);
		p += k;
		len -= k;
	}
	if (len == 0)
		return 0;
	/* Give back the memory of a large frame once it has been consumed. */
	if (d->off == d->buf.len && d->buf.cap > KEEP_CAP)
		buf_free(&d->buf);
	buf_drop_front(&d->buf, d->off);
	d->off = 0;
	return buf_append(&d->buf, p, len);
}

/* In resync mode: moves off to the next full magic and leaves resync mode, or
 * drops everything except a tail that could be the start of a magic split
 * across feeds. Returns true when a magic was found. */
static bool find_magic(struct wire_decoder *d)
{
	for (size_t i = d->off; i < d->buf.len; i++) {
		size_t n = d->buf.len - i < MAGIC_LEN ? d->buf.len - i : MAGIC_LEN;
		if (memcmp(d->buf.data + i, WIRE_MAGIC, n) != 0)
			continue;
		d->off = i;
		if (n == MAGIC_LEN) {
			d->resync = false;
			return true;
		}
		return false;
	}
	d->off = d->buf.len;
	return false;
}

int wire_decoder_next(struct wire_decoder *d, struct wire_frame *ret)
{
	if (d->skip)
		d->off += drop_skipped(d, d->buf.len - d->off);
	if (d->skip)
		return 0;
	if (d->resync && !find_magic(d))
		return 0;

	size_t avail = d->buf.len - d->off;
	if (avail == 0)
		return 0;
	const uint8_t *p = d->buf.data + d->off;
	/* Check the magic as soon as its first byte is here, so garbage is
	 * reported without waiting for a whole header's worth of it. */
	size_t n = avail < MAGIC_LEN ? avail : MAGIC_LEN;
	if (memcmp(p, WIRE_MAGIC, n) != 0) {
		d->off++;
		d->resync = true;
		return WIRE_EBADMAGIC;
	}
	if (avail < WIRE_HEADER_SIZE)
		return 0;

	struct wire_header h;
	int r = wire_header_unpack_proto(p, d->proto, d->max_body, &h);
	if (r == WIRE_EBADTYPE || r == WIRE_ETOOBIG) {
		/* The frame's extent is known: skip exactly that much, now or
		 * as the rest of it arrives. */
		uint64_t total = (uint64_t)WIRE_HEADER_SIZE + h.meta_len + h.body_len;
		size_t k = total < avail ? (size_t)total : avail;
		d->off += k;
		d->skip = total - k;
		*ret = (struct wire_frame){ .hdr = h };
		return r;
	}
	if (r < 0) {
		d->off++;
		d->resync = true;
		return r;
	}
	size_t total = WIRE_HEADER_SIZE + (size_t)h.meta_len + h.body_len;
	if (avail < total)
		return 0;
	*ret = (struct wire_frame){
		.hdr = h,
		.meta = (const char *)p + WIRE_HEADER_SIZE,
		.body = p + WIRE_HEADER_SIZE + h.meta_len,
	};
	d->off += total;
	return 1;
}

char *wire_frame_meta_dup(const struct wire_frame *f)
{
	char *s = malloc((size_t)f->hdr.meta_len + 1);
	if (!s)
		return NULL;
	if (f->hdr.meta_len)
		memcpy(s, f->meta, f->hdr.meta_len);
	s[f->hdr.meta_len] = '\0';
	return s;
}

int wire_cpu_port_name(int cpu, char *out, size_t size)
{
	if (cpu < 1)
		return -EINVAL;
	int n = snprintf(out, size, WIRE_CPU_PORT_PREFIX "%d", cpu);
	return n >= 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

int wire_cpu_port_cpu(const char *name)
{
	size_t plen = strlen(WIRE_CPU_PORT_PREFIX);
	if (strncmp(name, WIRE_CPU_PORT_PREFIX, plen) != 0)
		return -EINVAL;
	const char *p = name + plen;
	if (*p < '1' || *p > '9')
		return -EINVAL;
	long v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return -EINVAL;
	}
	return *p ? -EINVAL : (int)v;
}
