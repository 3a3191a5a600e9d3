/* The agent <-> guest wire protocol, shared by ditto-agent and ditto-guest.
 *
 * A frame is a fixed 20-byte header followed by two sections:
 *
 *   offset size  field
 *   0      4     magic "DTO1" (0x44 0x54 0x4f 0x31)
 *   4      1     version (WIRE_VERSION)
 *   5      1     type (enum wire_type)
 *   6      2     reserved, must be zero
 *   8      4     id: request id chosen by the sender of a request; a reply
 *                carries the id of its request; unsolicited events use 0
 *   12     4     meta_len: length of the meta section (UTF-8 JSON object text)
 *   16     4     body_len: length of the body section (opaque bytes)
 *
 * All integers are little-endian. The meta section carries small structured
 * fields; the body carries payloads the protocol never interprets (function
 * input and output, artifacts), so they can later be ciphertext without any
 * change here.
 *
 * This file and wire.c are a pure codec: no I/O, no allocation beyond the
 * decoder's own buffer, no logging. */
#ifndef DITTO_WIRE_H
#define DITTO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define WIRE_MAGIC "DTO1"
#define WIRE_VERSION 1
#define WIRE_HEADER_SIZE 20
#define WIRE_MAX_META (64u * 1024u)
#define WIRE_MAX_BODY (64u * 1024u * 1024u)
/* The largest "memory_mib" an INVOKE may ask for (64 GiB). */
#define WIRE_MAX_MEMORY_MIB 65536

/* Message types and their meta fields. Every meta section is a JSON object
 * ("{}" when there is nothing to say; an empty meta section reads as {});
 * fields marked optional may be absent.
 * CPU numbers are the guest's logical CPU ids; times are microseconds unless
 * the name says otherwise. A request gets exactly one WIRE_REPLY or WIRE_ERROR
 * carrying its id. */
enum wire_type {
	/* guest -> agent */

	/* Unsolicited, id 0, sent as soon as the channel is open, and again each
	 * time an agent connects to the virtio-serial port:
	 * {"version":1,"cpus_online":[..],"cpus_present":[..],"cpus_possible":N,
	 *  "uptime_ms":N}. Present CPUs other than 0 start offline or standby. */
	WIRE_HELLO = 1,
	/* Unsolicited, id 0: {"cpu":N,"event":E} where E is
	 *   "added"   a hot-added CPU appeared; the guest onlines and activates it;
	 *   "active"  a hot-added CPU now runs work; adds "online_us","probe_us";
	 *   "activate_failed" a hot-added CPU could not be onlined or probed;
	 *             adds "error":"reason" (it stays present, out of service);
	 *   "online"  a CPU came online without being asked (it is standby);
	 *   "offline" a CPU went offline without being asked;
	 *   "removed" a CPU was hot-unplugged and is forgotten. */
	WIRE_CPU_EVENT = 2,
	/* Reply to a request; meta depends on the request (see below). */
	WIRE_REPLY = 3,
	/* Reply to a request that failed: {"code":"...","message":"..."}. Codes:
	 * "malformed" (bad magic, version or reserved bytes: id 0; unknown type:
	 * the frame's id), "too_big" (meta or body over the limits), "bad_request"
	 * (meta not a JSON object, a missing or invalid field, a type the guest
	 * does not serve), "no_such_cpu" (cpu 0, or not present), "cpu_unavailable" (an
	 * invocation waited for a CPU that left service), "cpu_removed"
	 * (unplugged while the change waited), "online_failed", "offline_failed",
	 * "probe_failed", "digest_mismatch", "artifact_missing", "queue_full",
	 * "bad_input", "io_error", "attest_failed" (WIRE_ATTEST: the SEV guest
	 * device refused; the message says why). The agent relays them to the controller;
	 * agent_api.h gives each its HTTP status. */
	WIRE_ERROR = 4,

	/* agent -> guest; each reply is listed as "->" */

	/* {} -> {} */
	WIRE_PING = 16,
	/* CPU changes are idempotent and run in arrival order per CPU.
	 * {"cpu":N}: online if needed, prove a thread runs there, then give it
	 * work -> {"cpu","online_us","probe_us"} (0 for steps not needed). */
	WIRE_CPU_ACTIVATE = 17,
	/* {"cpu":N}: online but no work (an idle standby; drains an active CPU
	 * first) -> {"cpu","online_us"}. */
	WIRE_CPU_STANDBY = 18,
	/* {"cpu":N}: drain, kill its long-lived processes, then offline
	 * (dormant) -> {"cpu","offline_us"}. */
	WIRE_CPU_OFFLINE = 19,
	/* {"cpu":N}: drain and kill its long-lived processes, nothing else
	 * (before a hot-unplug); the CPU gets no more work -> {"cpu"}. */
	WIRE_CPU_RELEASE = 20,
	/* {"digest":hex SHA-256 of the body}; body: the executable
	 * -> {"digest","size"}. */
	WIRE_ARTIFACT_PUT = 21,
	/* {"digest", "runtime" (optional: "python3"|"nodejs" run the artifact
	 *  through that runtime's launcher, ditto-guest --launchers, default
	 *  /opt/runtime/ditto; absent, "binary" or "shell": the artifact runs
	 *  itself), "handler" (optional, python3/nodejs only, lib/fnpkg.h's
	 *  syntax; passed to the launcher as given, default "main"),
	 *  "mode":"process"|"persistent" (optional, default persistent with a
	 *  runtime, else process; a persistent process serves one artifact,
	 *  runtime, handler and memory limit),
	 *  "timeout_ms" (optional, default INVOKE_TIMEOUT_DEFAULT_MS from
	 *  agent_api.h, 0 = none),
	 *  "max_output" (optional, default 1 MiB, at most 16 MiB; caps the result
	 *  and the log separately), "cpu" (optional: run only on this worker CPU,
	 *  waiting for it; default any), "memory_mib" (optional,
	 *  1..WIRE_MAX_MEMORY_MIB, default none: the function's process gets it as
	 *  RLIMIT_AS, its address space in MiB, set before exec; nodejs instead
	 *  gets a V8 heap limit of three quarters of it and, where cgroup v2 is
	 *  mounted at /sys/fs/cgroup, a memory cgroup of its own with
	 *  memory.max = memory_mib and no swap; a persistent process keeps the
	 *  limit of the invocation that started it), "invocation" (optional: the
	 *  controller's invocation id, 1..128 bytes), "e2e" (optional, default
	 *  false; true needs "invocation": the artifact is a sealed one and the
	 *  body a request, lib/e2e.h)}; body: input (persistent: one line, no
	 *  '\n'; with e2e the request, whose plain input follows that rule; with
	 *  a runtime any '\n' and '\r' become spaces, and no input is {})
	 * -> {"status":"ok"|"error"|"timeout",
	 *     "cpu" (the CPU it was pinned to), "ran_on" (the CPU it last ran on;
	 *     absent when unknown), "wall_us" (from getting a CPU to the end,
	 *     init_us included), "cpu_us", "queued_us" (waiting for a CPU),
	 *     "guest_us" (the guest's whole share, on its CLOCK_MONOTONIC: from
	 *     reading the request's last byte to handing this reply to the
	 *     channel; includes queued_us and wall_us, so guest_us - wall_us is
	 *     the guest daemon's share, queueing included; the agent passes it
	 *     on beside its own "agent_us", which contains this round trip, so
	 *     agent_us - guest_us is the share outside the guest),
	 *     "cold_start" (persistent: its process was started for it),
	 *     "init_us" (fork to exec of the process it started; 0 when warm),
	 *     "exit_code" or "signal" (only when the process ended),
	 *     "result_len","result_truncated","log_truncated",
	 *     "exception" (runtimes, not e2e: the function raised;
	 *     {"type","message","traceback"}, the traceback cut to 16 KiB),
	 *     "error" (only when status is not "ok": "exit code 1",
	 *     "killed by signal 9", "no result line (exit code 0)",
	 *     "timed out after 500 ms", "execve failed: ..."; a function that
	 *     allocates past memory_mib fails the way it handles the failed
	 *     allocation, typically "exit code 1" or "killed by signal 11"; with
	 *     a runtime "TYPE: MESSAGE" of the exception (Python's MemoryError
	 *     past memory_mib), "runtime python3 is not installed in this guest
	 *     image", "the function raised an exception (sealed)" for e2e)};
	 *    body: result bytes (stdout; persistent: the line without its '\n';
	 *    with a runtime the VALUE of the launcher's {"result":VALUE} line as
	 *    written, or nothing when it raised; with e2e the whole
	 *    {"error":{...}} line, sealed) then log bytes (stderr, where the
	 *    function's prints go). A result line-less persistent process or
	 *    one that timed out is killed and started cold on its next use.
	 *    With e2e the guest opens the request with its key pair (bound to
	 *    the invocation id and the digest), opens the sealed artifact with
	 *    the request's tenant secret the first time (keeping the executable
	 *    in guest memory only), runs it on the plain input, and the body is
	 *    the sealed result part then the sealed log part, each sealed to the
	 *    request's client key; "result_len" is the sealed result's length.
	 *    A request that does not open is answered as a failed invocation
	 *    ("status":"error", no body) with "error" "e2e: not sealed to this
	 *    VM's key (attest again)" when it names no recipient with this VM's
	 *    key, else "e2e: cannot open the request (...)" or "e2e: cannot open
	 *    the artifact (...)" (another tenant secret). */
	WIRE_INVOKE = 22,
	/* {} -> {"cpus":[{"cpu","state":"offline"|"standby"|"active","busy",
	 *        "draining"}],"queued":N,"artifacts":N}; cpu 0 is not listed. */
	WIRE_STATUS = 23,
	/* {"nonce": hex, 1..64 bytes} -> {"type": "none"|"sev-snp",
	 * "public_key": 64 hex digits, the guest's X25519 key (made at boot, the
	 * same for the VM's life), "report_len" (sev-snp: where the report
	 * ends)}; body: for sev-snp the raw attestation report from
	 * /dev/sev-guest with REPORT_DATA = e2e_report_data(nonce, public key)
	 * (lib/e2e.h), then the host's certificate table when the host gave one
	 * (SNP_GET_EXT_REPORT); empty for "none" (no /dev/sev-guest: nothing
	 * binds the key, the VM is not confidential). Errors: "bad_request" (a
	 * missing or bad nonce), "attest_failed". */
	WIRE_ATTEST = 24,

	/* The controller <-> agent link (lib/agent_link.h describes the
	 * meta of each): the same header, a type set of its own, so a frame
	 * sent down the wrong stream is refused as an unknown type. */
	WIRE_LINK_HELLO = 64,  /* agent -> controller, id 0 */
	WIRE_LINK_INVOKE = 65, /* controller -> agent */
	WIRE_LINK_RESULT = 66, /* agent -> controller */
	WIRE_LINK_ERROR = 67,  /* agent -> controller */
	WIRE_LINK_CANCEL = 68, /* controller -> agent */
};

/* Which type set a decoder accepts: the guest channel's (the types up to
 * WIRE_ATTEST) or the controller <-> agent link's (WIRE_LINK_*). */
enum wire_proto {
	WIRE_PROTO_GUEST = 0,
	WIRE_PROTO_LINK = 1,
};

/* Error codes the decoder reports; negative so they never collide with sizes. */
enum wire_err {
	WIRE_EBADMAGIC = -1001,
	WIRE_EBADVERSION = -1002,
	WIRE_EBADTYPE = -1003,
	WIRE_ETOOBIG = -1004,
	WIRE_ERESERVED = -1005,
};

struct wire_header {
	uint8_t version;
	uint8_t type;
	uint32_t id;
	uint32_t meta_len;
	uint32_t body_len;
};

/* A decoded frame. meta and body point into the decoder's buffer and stay
 * valid until the next call to wire_decoder_next() or wire_decoder_feed(). */
struct wire_frame {
	struct wire_header hdr;
	const char *meta; /* not NUL-terminated; hdr.meta_len bytes */
	const uint8_t *body;
};

/* Incremental decoder: feed it bytes as they arrive, then take frames out. */
struct wire_decoder {
	struct buf buf;
	size_t off;        /* bytes at the front already taken out as frames */
	uint32_t max_body; /* limit enforced on incoming frames */
	uint64_t skip;     /* bytes of an oversized frame still to discard */
	bool resync;       /* discarding bytes until the next magic */
	uint8_t proto;     /* enum wire_proto: the type set it accepts */
};

/* Returns a readable name for a type ("hello", "invoke", ...), or NULL when
 * the type is unknown. */
const char *wire_type_name(uint8_t type);
/* True for the guest channel's types listed in enum wire_type. */
bool wire_type_is_known(uint8_t type);
/* True for the types of proto (enum wire_proto); false for an unknown one. */
bool wire_type_in(uint8_t proto, uint8_t type);

/* Writes the 20-byte header for h into out. */
void wire_header_pack(const struct wire_header *h, uint8_t out[WIRE_HEADER_SIZE]);
/* Packs the header of a frame of this type and id whose meta and body are
 * meta_len and body_len bytes long. Returns 0, or -EMSGSIZE (out untouched)
 * when either is over the protocol's limits (WIRE_MAX_META, WIRE_MAX_BODY). */
int wire_header_encode(uint8_t type, uint32_t id, size_t meta_len, size_t body_len,
		       uint8_t out[WIRE_HEADER_SIZE]);

/* Parses and validates a header. Returns 0 or a negative enum wire_err.
 * max_body bounds body_len (pass WIRE_MAX_BODY for the protocol limit);
 * meta_len is bounded by WIRE_MAX_META. The checks run in the order magic,
 * version, reserved, type, sizes. On WIRE_EBADTYPE and WIRE_ETOOBIG the header
 * is still well formed, so *ret is filled (the frame's extent is known and its
 * id can be answered); on the other errors *ret is untouched. */
int wire_header_unpack(const uint8_t in[WIRE_HEADER_SIZE], uint32_t max_body,
		       struct wire_header *ret);
/* The same for the type set of proto (enum wire_proto). */
int wire_header_unpack_proto(const uint8_t in[WIRE_HEADER_SIZE], uint8_t proto, uint32_t max_body,
			     struct wire_header *ret);

/* Encodes a whole frame into a freshly malloc'd buffer (*ret, *ret_len).
 * Returns 0, -EINVAL for an unknown type, -EMSGSIZE when meta or body are over
 * the protocol limits, or -ENOMEM. On failure *ret is untouched. */
int wire_encode(uint8_t type, uint32_t id, const char *meta, size_t meta_len, const void *body,
		size_t body_len, uint8_t **ret, size_t *ret_len);

/* Sets up an empty decoder of guest channel frames that rejects bodies over
 * max_body bytes. */
void wire_decoder_init(struct wire_decoder *d, uint32_t max_body);
/* The same for the type set of proto (enum wire_proto). */
void wire_decoder_init_proto(struct wire_decoder *d, uint8_t proto, uint32_t max_body);
/* Frees the decoder's buffer; the decoder may be initialised again. */
void wire_decoder_free(struct wire_decoder *d);

/* Appends bytes to the decoder. Bytes that belong to a frame being skipped
 * are dropped here rather than buffered, so an oversized frame never costs
 * memory. Returns 0 or -ENOMEM (then nothing was appended). */
int wire_decoder_feed(struct wire_decoder *d, const void *data, size_t len);

/* Takes the next complete frame out. Returns 1 when *ret is filled, 0 when
 * more bytes are needed, or a negative enum wire_err for a bad frame. Errors
 * are reported once and the decoder recovers on its own, because a
 * virtio-serial port cannot be reconnected by the guest:
 *   - WIRE_EBADMAGIC / WIRE_EBADVERSION / WIRE_ERESERVED: bytes are skipped up
 *     to the next occurrence of the magic;
 *   - WIRE_ETOOBIG / WIRE_EBADTYPE: the whole frame (its declared length) is
 *     skipped; *ret->hdr is filled (meta/body NULL) so the receiver can answer
 *     that request id with a WIRE_ERROR. */
int wire_decoder_next(struct wire_decoder *d, struct wire_frame *ret);

/* Copies the meta section to a NUL-terminated string; caller frees. Returns
 * NULL when out of memory. */
char *wire_frame_meta_dup(const struct wire_frame *f);

/* Worker CPU ports. Besides the control port, a VM may have one
 * virtio-serial port per worker CPU slot, named "ditto.cpu.N" for worker CPU
 * N (1-based, the guest's logical CPU id), present from launch. It carries
 * the same frames as the control port, but only WIRE_INVOKE requests and
 * their replies: the guest serves it on CPU N itself, so a warm invocation
 * never passes through the control CPU. */
#define WIRE_CPU_PORT_PREFIX "ditto.cpu."

/* Writes port N's name into out. Returns 0, -EINVAL when cpu is not a worker
 * CPU (< 1), or -ENAMETOOLONG when size is too small. */
int wire_cpu_port_name(int cpu, char *out, size_t size);
/* The worker CPU a port name names ("ditto.cpu.3" -> 3), or -EINVAL when
 * name is not a worker CPU port's (another prefix, no digits, a leading
 * zero, trailing bytes, 0 or out of int range). */
int wire_cpu_port_cpu(const char *name);

#endif
