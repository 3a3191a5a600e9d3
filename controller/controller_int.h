/* Internals shared by the controller's top modules: controller.c (start and
 * stop), api.c (the request life cycle, routing, authentication and
 * replies), api_functions.c (functions, invocations) and api_operators.c
 * (tenants, keys, scaling, hosts, metrics), each handler file exporting its
 * route table rows. */
#ifndef DITTO_CONTROLLER_INT_H
#define DITTO_CONTROLLER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>

#include <jansson.h>
#include <microhttpd.h>

#include "agent_api.h"
#include "cluster.h"
#include "controller.h"
#include "db.h"
#include "fleet.h"
#include "httpd.h"
#include "invoker.h"
#include "fn_cache.h"
#include "key_cache.h"
#include "link.h"
#include "metrics.h"
#include "sha256.h"
#include "store.h"
#include "util.h"

#define JSON_BODY_MAX (64 * 1024)
#define SYNC_INPUT_MAX (6u << 20)
#define ASYNC_INPUT_MAX (256u << 10)
#define TIMEOUT_DEFAULT INVOKE_TIMEOUT_DEFAULT_MS
#define TIMEOUT_MAX INVOKE_TIMEOUT_MAX_MS
#define MEMORY_DEFAULT 256
#define MEMORY_MAX 2048
#define CONCURRENCY_DEFAULT 10
#define CONCURRENCY_MAX 1000
/* The longest wait for a tenant's VM to come up. */
#define PLACEMENT_TIMEOUT_MS 180000

/* The controller's context: its configuration, the store, the fleet of
 * agents, the invoker and the HTTP server. Every request reaches it. */
struct controller {
	struct controller_config cfg;
	char data_dir[1024];
	char artifacts_dir[1100];
	/* Held for reading by a deploy from its rename to its commit, for
	 * writing by a garbage collection (artifact_gc.h). */
	pthread_rwlock_t artifacts_lock;
	struct db db;
	struct store *checkpoint; /* the fleet's handle for WAL checkpoints */
	struct link_pool *links;
	struct agent_streams *streams; /* NULL: invocations go over HTTP */
	struct metrics *metrics;
	struct fleet *fleet;
	struct invoker *invoker;
	struct cluster *cluster; /* the controllers sharing the store */
	char id[STORE_NAME_SIZE];
	/* cluster_changes + 1 when the invoker last read the tenants'
	 * limits (forward.c); 0: never. */
	_Atomic uint64_t membership_seen;
	struct MHD_Daemon *d;
	struct api_listener *listener; /* accepts for d (api_listen.h) */
	atomic_uint connections;       /* client connections open now (api.c) */
	struct key_cache keys;         /* keys verified a moment ago (api.c) */
	struct fn_cache functions;     /* function versions read a moment ago */
	int port;
};

struct request;

/* Who may call a route. */
enum api_auth {
	API_AUTH_NONE,   /* anyone, no key needed */
	API_AUTH_KEY,    /* any live key (a tenant's own routes check which tenant) */
	API_AUTH_ADMIN,  /* the admin key */
	API_AUTH_TENANT, /* a tenant key */
};

/* Which controller serves a route: any, or the tenant's owner (the
 * caller's tenant, or the one the path's "{}" names). */
enum api_owner { API_ANY, API_OWNER_CALLER, API_OWNER_PATH };

/* A body limit meaning the configured max_artifact: the body is streamed
 * to a temporary file, its SHA-256 computed as it arrives. */
#define API_BODY_ARTIFACT UINT64_MAX

/* One row per method and route. The handler files export their rows;
 * api.c looks them up. */
struct api_route {
	struct httpd_route head; /* method and pattern; "{}" is a name or id */
	enum api_auth auth;
	uint64_t body_max; /* the largest body, bytes; API_BODY_ARTIFACT: see above */
	/* Checks the query once the caller is known, before the body is read;
	 * may lower r->body.limit (for an artifact's row it runs after the
	 * Content-Length check instead). Replies and returns false to refuse.
	 * NULL: nothing to check. */
	bool (*check)(struct request *r);
	void (*handle)(struct request *r);
	bool quiet; /* logged only when refused: the hot path, whose records say the rest */
	/* Whose controller serves it (forward.h): any, or the owner of the
	 * caller's tenant or of the tenant the path names, as its state lives
	 * in that controller's memory. */
	enum api_owner owner;
};

extern const struct api_route api_function_routes[];
extern const size_t api_function_routes_n;
extern const struct api_route api_operator_routes[];
extern const size_t api_operator_routes_n;

/* Finds the row for method and path among every handler file's rows.
 * Returns 0 with the row and the path's "{}" segments; -ENOENT when no
 * pattern matches the path; -EPERM when one does but not under this method
 * (an empty method is never allowed): then the segments are filled too, for
 * the argument checks that come first. */
int api_route_lookup(const char *method, const char *path, const struct api_route **ret_row,
		     struct httpd_args *ret_args);

struct request {
	struct controller *ctl;
	struct MHD_Connection *conn;
	const char *method;
	char path[512];
	bool path_nul; /* the raw path holds %00, which ends path at its NUL */
	bool begun;    /* begin() has run */
	uint64_t start_us;
	const struct api_route *route;
	char arg[STORE_ID_SIZE > STORE_NAME_SIZE ? STORE_ID_SIZE
						 : STORE_NAME_SIZE]; /* name or id from the path */
	char arg2[STORE_NAME_SIZE]; /* a second one ("" when none or too long): a key id */
	char tenant[STORE_NAME_SIZE]; /* the caller's tenant; "" for admin */
	bool authed, is_admin;
	/* The body: in memory, or an artifact streamed to a temp file (fd). */
	struct httpd_body body;
	int fd;
	char tmp_path[1200];
	struct sha256 hash;
	/* A deploy's limits, runtime and handler from its query (runtime
	 * FN_RUNTIME_UNKNOWN: to be inferred; handler "": none given), and
	 * whether it named a mode (else the runtime's default). */
	struct store_limits limits;
	bool mode_given;
	bool async;
	bool json_input; /* the invocation's input is declared application/json */
	/* The id the caller chose for its invocation (X-Ditto-Invocation-Id);
	 * "" when it chose none. */
	char invocation_id[STORE_ID_SIZE];
	/* The reply: JSON, or raw bytes with their own type and headers. */
	unsigned status;
	char *resp;
	size_t resp_len;
	const char *content_type;
	char id_header[STORE_ID_SIZE]; /* X-Ditto-Invocation-Id when set */
	char status_header[16];
	char cold_header[8];
	char timing_header[256];
	/* More headers, "Name: value\r\n" lines sent as they are: a
	 * relayed reply's own (forward.h), a Retry-After. */
	struct buf extra_headers;
	char relayed_type[128]; /* and its Content-Type */
	bool replied;
};

/* ---- the HTTP server (api.c) ---- */

/* Starts serving c on sin. Returns 0 or -errno with a reason in err. */
int api_serve(struct controller *c, const struct sockaddr_in *sin, char *err, size_t err_size);
/* Answers the requests in progress and stops serving. */
void api_close(struct controller *c);

/* ---- replies (api.c) ---- */
void reply_json(struct request *r, unsigned status, json_t *o);
void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* reply_error with the members of extra (a JSON object, taken over; NULL:
 * none) added to the error object. */
void reply_error_with(struct request *r, unsigned status, const char *code, json_t *extra,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Replies 500 internal for what failing with err, but 503 store_unavailable
 * with Retry-After when err says the store cannot answer now (-ENOTCONN: its
 * server cannot be reached; -EBUSY: it is locked or busy). */
void reply_internal(struct request *r, const char *what, int err);
/* Replies with bytes as they are; takes ownership of data (malloc'd). */
void reply_raw(struct request *r, unsigned status, const char *content_type, char *data,
	       size_t len);

/* ---- request checks (api_input.c) ---- */

/* Refuses what no route accepts, before routing: a NUL byte (raw %00) in
 * the path, a NUL in a header value, two different Content-Length headers,
 * and in the query a NUL in a key or value, a key without a value, or a
 * key given twice. Replies 400 naming the problem and returns false. */
bool api_input_ok(struct request *r);

/* ---- parameters (api.c) ---- */
/* Whether s is a tenant name ([a-z0-9-]{1,63}) or, with function, a
 * function or host name (also A-Z, '_' and '.'; never "." or ".."). */
bool name_ok(const char *s, bool function);
const char *query(struct request *r, const char *key);
/* Reads an optional integer query parameter in lo..hi (strict decimal, as
 * parse_i64). Replies 400 and returns false when it is malformed or out of
 * range; *val is untouched when the parameter is absent. */
bool query_int(struct request *r, const char *key, int64_t lo, int64_t hi, int64_t *val);
/* Reads an optional boolean query parameter (true, false, 1, 0). Replies
 * 400 and returns false when it is malformed; *val is untouched when it is
 * absent. */
bool query_bool(struct request *r, const char *key, bool *val);
/* Replies 400 and returns false when the query has a parameter not in keys. */
bool query_only(struct request *r, const char *const *keys);
/* Parses the body as a JSON object; an empty body is {} when allow_empty.
 * Replies 400 and returns NULL otherwise. */
json_t *body_object(struct request *r, bool allow_empty);
#endif
