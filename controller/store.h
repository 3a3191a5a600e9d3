/* The controller's persistent state in one database, on SQLite (a file, the
 * default) or on PostgreSQL (a server several controllers may share):
 * tenants and their scaling settings, API keys, functions and their
 * immutable versions, artifact metadata, invocation records and hosts.
 *
 * A handle is used by one thread at a time; threads that need the store
 * concurrently open a handle each (SQLite's WAL lets readers and one writer
 * proceed together, and writers wait for each other up to a busy timeout;
 * PostgreSQL gives each handle a connection of its own). Every write that
 * touches more than one row is one transaction, so a crash never leaves a
 * half-written record. Payloads (inputs, results, logs) are opaque bytes
 * the store never parses. Both engines give the same results and errors. */
#ifndef DITTO_STORE_H
#define DITTO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fnpkg.h"
#include "sha256.h"

#define STORE_NAME_SIZE 64                /* names are 1..63 characters */
#define STORE_DIGEST_SIZE SHA256_HEX_SIZE /* SHA-256 as 64 lower-case hex digits */
#define STORE_ID_SIZE 33                  /* invocation ids: 128 random bits in hex */
#define STORE_TOKEN_SIZE 44               /* "dk_" + 40 hex digits */
#define STORE_KEY_ID_SIZE 16              /* a key id is the token's first 15 characters */
#define STORE_CURSOR_SIZE 64              /* an opaque list position */
#define STORE_MECHANISM_SIZE 16           /* "hotplug" or "precreated" */
#define STORE_MODE_SIZE 16                /* "process" or "persistent" */
#define STORE_POLICY_SIZE 64              /* e.g. "elastic", "fixed:4", "scale-out" */
#define STORE_CONFIDENTIAL_SIZE 16        /* "none" or "sev-snp" */
#define STORE_ATTESTATION_SIZE 16         /* "optional" or "required" */
#define STORE_HOST_DATA_SIZE 65           /* 64 lower-case hex digits */
#define STORE_ADDRESS_SIZE 256
#define STORE_LIST_MAX 1000
#define STORE_MAX_WORKERS 64 /* most worker vCPUs a tenant may have */
/* A tenant's concurrency: the most invocations of its functions running at
 * once, sync and async together (as OpenWhisk's per-namespace limit). */
#define STORE_CONCURRENCY_DEFAULT 100
#define STORE_CONCURRENCY_MAX 10000

struct store;

/* Whether s is exactly n lower-case hex digits (ids, digests, tokens,
 * host_data); NULL is not. */
bool store_is_lower_hex(const char *s, size_t n);

/* Splits a store URI: "sqlite:PATH", "postgres:CONNINFO" (libpq's: key=value
 * pairs or a postgresql:// URI), or a bare path, which means SQLite (a
 * path that starts with two or more lower-case letters and a colon needs
 * "sqlite:"). Returns 0 with the engine's name ("sqlite" or "postgres") and
 * where its target starts within uri, -EINVAL for an empty URI or target,
 * or -EPROTONOSUPPORT for another scheme. */
int store_uri_parse(const char *uri, const char **ret_engine, const char **ret_target);
/* Opens the store a URI names (store_uri_parse), creating an SQLite file
 * when missing, and brings its schema up to date (each engine's steps are
 * versioned; PostgreSQL's run under an advisory lock, so controllers
 * starting together apply each once). Returns 0 with a handle for
 * store_close, -EINVAL or -EPROTONOSUPPORT for a bad URI, -EPROTO when the
 * database was written by a newer schema than this build knows, -ENOTCONN
 * when the server cannot be reached, -ENOMEM or -EIO. */
int store_open(const char *uri, struct store **ret_store);
/* The engine a handle runs on: "sqlite" or "postgres". */
const char *store_engine(const struct store *s);
/* Closes the handle. NULL is fine. */
void store_close(struct store *s);

/* ---- tenants ------------------------------------------------------------ */

struct store_scaling {
	int min_workers; /* worker vCPUs kept even when idle */
	int max_workers; /* never more worker vCPUs than this */
	char mechanism[STORE_MECHANISM_SIZE];
	char policy[STORE_POLICY_SIZE];
	/* How the tenant's VMs run: "none", or "sev-snp" (an SEV-SNP VM,
	 * which needs the precreated mechanism: a vCPU hot-added after launch
	 * is not in the launch measurement). */
	char confidential[STORE_CONFIDENTIAL_SIZE];
	/* "optional", or "required": invocations go only to VMs whose
	 * hardware evidence the controller verified (needs "sev-snp"). */
	char attestation[STORE_ATTESTATION_SIZE];
	/* The HOST_DATA its SEV-SNP VMs are launched with, as 64 lower-case
	 * hex digits: the commitment to the tenant secret they accept (""
	 * when unset; "sev-snp" needs it, "none" keeps it unused). */
	char host_data[STORE_HOST_DATA_SIZE];
	/* The most invocations of the tenant's functions running at once, sync
	 * and async together: 1..STORE_CONCURRENCY_MAX. */
	int concurrency;
};

struct store_tenant {
	char name[STORE_NAME_SIZE];
	int64_t created_ms; /* wall clock, milliseconds since the epoch */
	struct store_scaling scaling;
};

/* A new tenant's scaling settings, as a struct store_scaling initializer. */
#define STORE_SCALING_DEFAULT                                                                    \
	{                                                                                        \
		0, 4, "precreated", "elastic", "none", "optional", "", STORE_CONCURRENCY_DEFAULT \
	}

/* Creates a tenant named [a-z0-9-]{1,63} with the default scaling settings
 * (0..4 worker vCPUs, "precreated", "elastic", confidential "none",
 * attestation "optional", concurrency STORE_CONCURRENCY_DEFAULT). Returns 0,
 * -EINVAL for a bad name or -EEXIST. */
int store_tenant_create(struct store *s, const char *name);
/* Creates a tenant and its first key (see store_key_create) in one
 * transaction: either both exist afterwards or neither. confidential,
 * attestation and host_data are as in struct store_scaling, NULL for the
 * defaults (host_data: unset). Returns 0, -EINVAL (a bad name, or options
 * store_tenant_set_scaling refuses), -EEXIST or -EIO. */
int store_tenant_create_with_key(struct store *s, const char *name, const char *confidential,
				 const char *attestation, const char *host_data,
				 char ret_token[STORE_TOKEN_SIZE]);
/* Returns 0 or -ENOENT. */
int store_tenant_get(struct store *s, const char *name, struct store_tenant *ret_tenant);
/* Returns every tenant, ordered by name, as a malloc'd array (free()). */
int store_tenant_list(struct store *s, struct store_tenant **ret_tenants, size_t *ret_n);
/* Whether the scaling settings are ones the store keeps: 0 <= min <= max,
 * 1 <= max <= STORE_MAX_WORKERS, mechanism "hotplug" or "precreated", policy
 * 1..63 printable characters, confidential "none" or "sev-snp" (the latter
 * only with "precreated" and a host_data), attestation "optional" or
 * "required" (the latter only with "sev-snp"), host_data "" or 64
 * lower-case hex digits, 1 <= concurrency <= STORE_CONCURRENCY_MAX. */
bool store_scaling_is_valid(const struct store_scaling *scaling);
/* Replaces a tenant's scaling settings. Returns 0, -ENOENT, or -EINVAL
 * unless store_scaling_is_valid. */
int store_tenant_set_scaling(struct store *s, const char *name,
			     const struct store_scaling *scaling);

/* ---- API keys ----------------------------------------------------------- */

/* Creates a key for tenant, or an admin key when tenant is NULL, and writes
 * its token (shown once: only a salted hash is kept) to ret_token. The key's
 * id, for revocation, is the token's first STORE_KEY_ID_SIZE - 1 characters.
 * Returns 0, -ENOENT for an unknown tenant, or -EIO. */
int store_key_create(struct store *s, const char *tenant, char ret_token[STORE_TOKEN_SIZE]);
/* Checks a token. Returns 0 with the key's tenant ("" for an admin key) and
 * whether it is an admin key, or -EACCES for any token that is not a live key
 * (malformed, unknown, wrong secret or revoked). */
int store_key_verify(struct store *s, const char *token, char ret_tenant[STORE_NAME_SIZE],
		     bool *ret_is_admin);
/* Revokes tenant's key by id (tenant NULL: an admin key); verifying its
 * token fails from then on. Returns 0 or -ENOENT (also for a key already
 * revoked, or one of another tenant). */
int store_key_revoke(struct store *s, const char *tenant, const char *key_id);

/* A key as listed: its id and when it was made, never its secret. */
struct store_key {
	char key_id[STORE_KEY_ID_SIZE];
	int64_t created_ms; /* wall clock, milliseconds since the epoch */
};

/* Returns tenant's live (unrevoked) keys, oldest first, as a malloc'd array
 * (free()). Returns 0 or -errno. */
int store_key_list(struct store *s, const char *tenant, struct store_key **ret_keys, size_t *ret_n);

/* ---- artifacts ---------------------------------------------------------- */

/* An artifact's record: its digest (64 lower-case hex digits of its SHA-256)
 * and size, written by store_function_put; its bytes live in a folder the
 * controller manages. Returns 0 with the artifact's size, or -ENOENT. */
int store_artifact_get(struct store *s, const char *digest, uint64_t *ret_size);

struct store_artifact {
	char digest[STORE_DIGEST_SIZE];
	uint64_t size;
};

/* Whether the store keeps artifacts' bytes as well as their records, so
 * that every controller sharing it can read them (PostgreSQL; db.h's
 * db_artifact_share and db_artifact_cache move them), or only the records,
 * the bytes being the controller's own files (SQLite). */
bool store_keeps_artifacts(const struct store *s);

/* The artifacts whose files are kept but that nothing can run any more: no
 * version a function get can return (a live function's, from its current
 * incarnation on) and no unfinished invocation's version names them. They
 * are what garbage collection may delete; ordered by digest, as a malloc'd
 * array (free()). Returns 0 or -errno. */
int store_artifact_unused(struct store *s, struct store_artifact **ret_artifacts, size_t *ret_n);
/* Records that an artifact's file was deleted: store_artifact_get says
 * -ENOENT from then on, until a put of the same bytes records it again.
 * The row stays, as deleted functions' versions name it; bytes the store
 * keeps go with the mark. Returns 0 or -ENOENT (unknown, or collected
 * already). */
int store_artifact_collect(struct store *s, const char *digest);

/* ---- functions ---------------------------------------------------------- */

struct store_limits {
	uint32_t timeout_ms;        /* 1..86400000 */
	uint32_t memory_mib;        /* 1..1048576 */
	uint32_t max_concurrency;   /* 1..65536 */
	char mode[STORE_MODE_SIZE]; /* "process" or "persistent" */
	/* Not a limit, but kept per version with them: the artifact and the
	 * payloads are sealed end to end (lib/e2e.h), opaque to the platform. */
	bool encrypted;
	/* Nor these: how the version runs (lib/fnpkg.h; zero is binary), and
	 * the handler its launcher loads ("" for none: binary and shell). */
	enum fn_runtime runtime;
	char handler[FNPKG_HANDLER_SIZE];
};

struct store_function {
	char tenant[STORE_NAME_SIZE];
	char name[STORE_NAME_SIZE];
	int64_t version;
	char digest[STORE_DIGEST_SIZE];
	uint64_t size;
	struct store_limits limits;
	int64_t created_ms;
};

/* Adds a new immutable version of tenant's function name ([A-Za-z0-9_.-],
 * 1..63), creating the function on its first put, and records the artifact
 * (again: a no-op). Versions count 1, 2, 3... per function, and
 * concurrent puts (from any handle) get distinct consecutive versions.
 * A put after store_function_delete re-creates the function: its versions
 * continue from the deleted ones' numbers, so a version number never names
 * two different artifacts, but the deleted versions stay unreachable.
 * Returns 0 with the new version, -EINVAL, -ENOENT for an unknown tenant,
 * -EEXIST for a digest known with another size, or -EBUSY when other writers
 * held the database past the busy timeout. */
int store_function_put(struct store *s, const char *tenant, const char *name, const char *digest,
		       uint64_t size, const struct store_limits *limits, int64_t *ret_version);
/* Gets a version of a live function, the latest when version is 0. Returns 0,
 * or -ENOENT for an unknown or deleted function or version, or for another
 * tenant's function. */
int store_function_get(struct store *s, const char *tenant, const char *name, int64_t version,
		       struct store_function *ret_function);
/* Returns the latest version of each of tenant's live functions, ordered by
 * name, as a malloc'd array (free()). */
int store_function_list(struct store *s, const char *tenant, struct store_function **ret_functions,
			size_t *ret_n);
/* Deletes a function: getting it, and so invoking it, fails with -ENOENT.
 * Past invocation records keep naming its versions. Returns 0 or -ENOENT. */
int store_function_delete(struct store *s, const char *tenant, const char *name);

/* ---- invocations -------------------------------------------------------- */

enum store_status {
	STORE_QUEUED,
	STORE_RUNNING,
	STORE_OK,
	STORE_ERROR,
	STORE_TIMEOUT,
};

/* "queued", "running", "ok", "error", "timeout"; NULL for anything else. */
const char *store_status_name(enum store_status status);
/* Parses a status name. Returns 0 or -EINVAL. */
int store_status_parse(const char *name, enum store_status *ret_status);

struct store_invocation {
	char id[STORE_ID_SIZE];
	char tenant[STORE_NAME_SIZE];
	char function[STORE_NAME_SIZE];
	int64_t version;
	bool async;
	enum store_status status;
	int retries; /* times an async invocation was put back in the queue after
		      * an attempt was cut short (host, VM or controller lost) */
	int64_t created_ms, started_ms, finished_ms; /* 0 until it happens */
	char host[STORE_NAME_SIZE];                  /* where it ran: "" until it starts */
	char vm[STORE_NAME_SIZE];
	int cpu; /* -1 until it starts */
	int64_t queued_us, cold_start_us, exec_us, total_us;
	bool cold_start;
	/* What the agent said of the VM when it answered: its active worker
	 * vCPUs and its worker-vCPU milliseconds since it started; -1 when it
	 * said nothing. */
	int workers;
	int64_t vcpu_alloc_ms, vcpu_busy_ms;
	/* Owned by the record (store_invocation_clear frees them); NULL when
	 * empty, and always NULL in list results except error. */
	uint8_t *input;
	size_t input_len;
	uint8_t *result;
	size_t result_len;
	uint8_t *log;
	size_t log_len;
	char *error; /* why it failed, NUL-terminated */
	/* The exception the function raised, as JSON text ({"type",
	 * "message", "traceback"}); NULL when none. Owned like error. */
	char *exception;
};

/* What a finished invocation produced. Pointers may be NULL when empty. */
struct store_outcome {
	enum store_status status; /* STORE_OK, STORE_ERROR or STORE_TIMEOUT */
	const void *result;
	size_t result_len;
	const void *log;
	size_t log_len;
	const char *error;
	const char *exception; /* JSON text of the exception raised; NULL: none */
	int64_t queued_us, cold_start_us, exec_us, total_us;
	bool cold_start;
	int cpu;       /* the worker vCPU it ran on (from 1); 0 keeps what start recorded */
	bool has_vcpu; /* the agent reported the fields below */
	int workers;
	int64_t vcpu_alloc_ms, vcpu_busy_ms;
	/* The attempt it belongs to: when fenced, it lands only while the
	 * record's retries still equals retries, so the late outcome of an
	 * attempt cut short never overwrites a later one. */
	bool fenced;
	int retries;
};

/* Records a queued invocation of a version of tenant's function, with its
 * input (kept so an async invocation can be retried after a restart), and
 * writes its new id to ret_id. Returns 0, -EINVAL, or -ENOENT when the
 * function version was never stored. */
int store_invocation_create(struct store *s, const char *tenant, const char *function,
			    int64_t version, bool async, const void *input, size_t input_len,
			    char ret_id[STORE_ID_SIZE]);
/* store_invocation_create under an id the caller chose (32 lower-case hex
 * digits, as store_invocation_new_id draws). Returns 0, -EINVAL, -ENOENT,
 * or -EEXIST when a record has that id. */
int store_invocation_create_as(struct store *s, const char *id, const char *tenant,
			       const char *function, int64_t version, bool async, const void *input,
			       size_t input_len);
/* Draws a new invocation id (128 random bits in hex). Returns 0 or -EIO. */
int store_invocation_new_id(char ret_id[STORE_ID_SIZE]);
/* Records, under an id from store_invocation_new_id, a synchronous
 * invocation that started at once on host/vm at created_ms (wall clock,
 * milliseconds), in one write instead of a create and a start. Its input is
 * not kept: only async invocations are ever run again. Returns 0, -EINVAL,
 * -EEXIST (the id is taken) or -ENOENT (no such function version). */
int store_invocation_create_running(struct store *s, const char *id, int64_t created_ms,
				    const char *tenant, const char *function, int64_t version,
				    const char *host, const char *vm);
/* Marks a queued invocation running on host/vm/cpu. Returns 0, -ENOENT, or
 * -EALREADY when it is not queued. */
int store_invocation_start(struct store *s, const char *id, const char *host, const char *vm,
			   int cpu);
/* Records the outcome of a queued or running invocation. Returns 0, -EINVAL,
 * -ENOENT, or -EALREADY when it already finished or the outcome is fenced to
 * an earlier attempt (so a late reply cannot overwrite a failure recorded
 * after a restart, nor a later attempt's outcome). */
int store_invocation_finish(struct store *s, const char *id, const struct store_outcome *outcome);
/* Puts an unfinished async invocation back in the queue with its retries
 * incremented (its host was lost). Returns 0, -ENOENT, or -EALREADY when it
 * already finished or is not async. */
int store_invocation_requeue(struct store *s, const char *id);
/* Gets a record with its payloads. tenant NULL reads any tenant's record
 * (for the controller itself); otherwise another tenant's record is -ENOENT.
 * Returns 0 (release with store_invocation_clear), -ENOENT or -ENOMEM. */
int store_invocation_get(struct store *s, const char *tenant, const char *id,
			 struct store_invocation *ret_inv);
/* Frees a record's payloads and zeroes it. */
void store_invocation_clear(struct store_invocation *inv);

struct store_filter {
	const char *function; /* NULL: any function */
	bool has_status;      /* false: any status */
	enum store_status status;
};

/* Lists tenant's invocations newest first, without payloads: at most limit
 * (1..1000) records after cursor (NULL or "" for the first page). ret_next is
 * the cursor of the next page, "" when this page is the last. Returns 0 with
 * a malloc'd array (store_invocations_free), -EINVAL for a bad limit, filter
 * or cursor, or -ENOMEM. */
int store_invocation_list(struct store *s, const char *tenant, const struct store_filter *filter,
			  const char *cursor, unsigned limit, struct store_invocation **ret_invs,
			  size_t *ret_n, char ret_next[STORE_CURSOR_SIZE]);
/* Frees an array from store_invocation_list. NULL is fine. */
void store_invocations_free(struct store_invocation *invs, size_t n);

/* Deletes finished records that finished before finished_before_ms, and those
 * beyond each tenant's keep_newest newest finished records (0: no such cap).
 * Queued and running records are never deleted. Returns 0 with the number
 * deleted (ret_deleted may be NULL). */
int store_invocations_prune(struct store *s, int64_t finished_before_ms, unsigned keep_newest,
			    size_t *ret_deleted);

struct store_id {
	char id[STORE_ID_SIZE];
};

/* After a restart, settles every invocation the previous run left queued or
 * running (on a store several controllers share, those of the handle's
 * controller only: store_set_controller), in one transaction:
 * synchronous ones (their clients are gone) and
 * async ones that were running with max_retries retries spent become
 * STORE_ERROR with reason; other async ones are queued again, those that
 * were running with retries incremented (an attempt was cut short), and
 * returned in ret_retry (malloc'd, free(); NULL when none) for the caller to
 * run again. Returns 0 or -errno. */
int store_invocations_recover(struct store *s, const char *reason, int max_retries,
			      size_t *ret_failed, struct store_id **ret_retry, size_t *ret_n_retry);

/* ---- maintenance -------------------------------------------------------- */

/* Groups the writes between the two calls into one transaction (one commit
 * instead of one each). store_batch_end commits when r is not an error and
 * rolls back otherwise; it returns the final result. */
int store_batch_begin(struct store *s);
int store_batch_end(struct store *s, int r);

/* Sets how many WAL pages make a commit checkpoint the database itself
 * (SQLite's default is 1000); 0 leaves checkpoints to store_checkpoint, so
 * that their fsyncs happen off the request path. A no-op on PostgreSQL. */
int store_set_autocheckpoint(struct store *s, int pages);
/* Copies what the WAL holds into the database as far as readers allow,
 * without waiting for writers; once the WAL holds more than 16 MiB, also
 * truncates it, holding writers off for at most 200 ms (it tries again on
 * the next call when readers keep it busy). Returns 0 or -errno. A no-op on
 * PostgreSQL, whose server checkpoints by itself. */
int store_checkpoint(struct store *s);

/* ---- hosts -------------------------------------------------------------- */

struct store_host {
	char id[STORE_NAME_SIZE];
	char address[STORE_ADDRESS_SIZE];
	int cores;
	int64_t registered_ms, last_seen_ms;
	bool down;     /* unreachable: place nothing there */
	bool draining; /* being emptied by an operator: place nothing new there */
};

/* Registers a host ([A-Za-z0-9_.-], 1..63) or re-registers it with a new
 * address and core count; a (re-)registered host is up and has just been
 * seen, and keeps its draining flag. Returns 0 or -EINVAL. */
int store_host_register(struct store *s, const char *id, const char *address, int cores);
/* Records that a host was seen now and so is up. Returns 0 or -ENOENT. */
int store_host_heartbeat(struct store *s, const char *id);
/* Sets a host's flags. Returns 0 or -ENOENT. */
int store_host_set_down(struct store *s, const char *id, bool down);
int store_host_set_draining(struct store *s, const char *id, bool draining);
/* Forgets a host. Returns 0 or -ENOENT. */
int store_host_delete(struct store *s, const char *id);
/* Returns 0 or -ENOENT. */
int store_host_get(struct store *s, const char *id, struct store_host *ret_host);
/* Returns every host, ordered by id, as a malloc'd array (free()). */
int store_host_list(struct store *s, struct store_host **ret_hosts, size_t *ret_n);

/* ---- several controllers (store_cluster.c) ----------------------------- */

/* Controllers sharing one store (PostgreSQL) each heartbeat a row; one of
 * them leads, holding an advisory lock on a connection of its own and an
 * epoch that fences its once-only writes. Each invocation record names the
 * controller that runs or queues it; a dead controller's records are
 * released (named by nobody) and the owners of their tenants claim the
 * queued ones. SQLite serves one controller: it is always the leader. */

/* Whether the store may be shared by several controllers (PostgreSQL). */
bool store_is_shared(const struct store *s);
/* Names the controller the handle writes for ([a-z0-9-]{1,63}): the
 * records it creates or starts name it from then on. Set once, after open.
 * Returns 0, -EINVAL, or -EALREADY when another id is set. */
int store_set_controller(struct store *s, const char *id);

struct store_controller {
	char id[STORE_NAME_SIZE];
	char address[STORE_ADDRESS_SIZE];
	int64_t started_ms, last_seen_ms; /* the database's wall clock */
};

/* Records that the handle's controller, reachable at address and started at
 * started_ms, is alive now (the database's clock). Returns 0, -EINVAL when
 * no controller is set or the address is empty, or -errno. */
int store_controller_heartbeat(struct store *s, const char *address, int64_t started_ms);
/* Returns every controller, ordered by id, as a malloc'd array (free()),
 * with the database's clock now (0 when there are none), to compare
 * last_seen_ms with. */
int store_controller_list(struct store *s, struct store_controller **ret_ctls, size_t *ret_n,
			  int64_t *ret_now_ms);
/* The controllers that unfinished records created before before_ms (wall
 * clock) name but that have no row (deleted, or never written: records
 * copied from another store): at most 100, ordered by id, with only their
 * ids set, as a malloc'd array (free()). Their records are released as a
 * dead controller's. Returns 0 or -errno. */
int store_controller_unlisted(struct store *s, int64_t before_ms, struct store_controller **ret,
			      size_t *ret_n);
/* The leader's epoch (0: none ever) and id ("": none). Returns 0 or -errno. */
int store_leader_get(struct store *s, int64_t *ret_epoch, char ret_id[STORE_NAME_SIZE]);

/* The leader's lock, on a handle of its own (its connection holds it; it
 * goes when the connection does). try: *ret_won tells whether the handle
 * holds it now (never call it again while held); held: 0 while the handle
 * still holds it, -ENOLCK once it lost it (the connection dropped and came
 * back without it), or the error of asking (take it as lost); release
 * gives it up. On SQLite the one controller always holds it. */
int store_leader_lock_try(struct store *s, bool *ret_won);
int store_leader_lock_held(struct store *s);
int store_leader_lock_release(struct store *s);
/* Ends the server connection holding the lock, when it is another
 * handle's: for a leader whose heartbeats stopped while its connection
 * stays open (a frozen process, a machine gone without closing it), which
 * would otherwise hold the lock until the server's TCP keepalives give up.
 * Returns 0, -ENOENT when no other connection holds it (and on SQLite), or
 * -errno. */
int store_leader_depose(struct store *s);
/* Called by the lock's holder: increments the leader's epoch and names the
 * handle's controller as leader. Returns 0 with the new epoch, or -errno. */
int store_leader_claim(struct store *s, int64_t *ret_epoch);
/* Fences the handle's once-only writes (pruning, store_controller_release)
 * by epoch: each checks in its transaction that the leader's epoch is still
 * epoch, and fails with -ESTALE otherwise. 0 lifts the fence. */
void store_fence_set(struct store *s, int64_t epoch);

/* Releases controller dead's records in one transaction fenced by the
 * handle's epoch (store_fence_set), if its heartbeat is older than
 * timeout_ms by the database's clock: its sync records and its running
 * async ones with max_retries retries spent become STORE_ERROR with
 * reason; its other running async ones are queued again with retries + 1;
 * its queued ones stay queued; all are then named by nobody, and dead's
 * row goes. Returns 0 with the counts (failed, queued), -EAGAIN when dead
 * was seen within timeout_ms, -ESTALE when fenced out, or -errno. */
int store_controller_release(struct store *s, const char *dead, int timeout_ms,
			     const char *reason, int max_retries, size_t *ret_failed,
			     size_t *ret_queued);

/* A queued async record no controller runs. */
struct store_orphan {
	char id[STORE_ID_SIZE];
	char tenant[STORE_NAME_SIZE];
};

/* Returns up to max queued async records named by no controller, oldest
 * first, as a malloc'd array (free()). Returns 0 or -errno. */
int store_orphan_list(struct store *s, unsigned max, struct store_orphan **ret_orphans,
		      size_t *ret_n);
/* Claims an orphaned queued record for the handle's controller, unless
 * another claimed it first (compare and set). Returns 0, -EALREADY when it is
 * not an orphan any more (or not queued), -EINVAL with no controller set. */
int store_orphan_claim(struct store *s, const char *id);

#endif
