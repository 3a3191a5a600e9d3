/* Internals shared by the API's modules: api.c (the request life cycle,
 * routing, authentication and replies), api_functions.c (functions,
 * invocations) and api_operators.c (tenants, keys, scaling, hosts, metrics). */
#ifndef DITTO_API_INT_H
#define DITTO_API_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"
#include "db.h"
#include "fleet.h"
#include "invoker.h"
#include "link.h"
#include "metrics.h"
#include "sha256.h"
#include "store.h"
#include "util.h"

#define JSON_BODY_MAX (64 * 1024)
#define SYNC_INPUT_MAX (6u << 20)
#define ASYNC_INPUT_MAX (256u << 10)
#define TIMEOUT_DEFAULT 60000
#define TIMEOUT_MAX 300000
#define MEMORY_DEFAULT 256
#define MEMORY_MAX 2048
#define CONCURRENCY_DEFAULT 10
#define CONCURRENCY_MAX 1000

struct api {
	struct api_config cfg;
	char data_dir[1024];
	char artifacts_dir[1100];
	struct db db;
	struct store *checkpoint; /* the fleet's handle for WAL checkpoints */
	struct link_pool *links;
	struct metrics *metrics;
	struct fleet *fleet;
	struct invoker *invoker;
	struct MHD_Daemon *d;
	int port;
};

enum route {
	R_NONE,
	R_HEALTHZ,
	R_METRICS,
	R_TENANTS,
	R_TENANT,
	R_TENANT_KEYS,
	R_TENANT_SCALING,
	R_FUNCTIONS,
	R_FUNCTION,
	R_FUNCTION_INVOKE,
	R_INVOCATIONS,
	R_INVOCATION,
	R_HOSTS,
	R_HOST_HEARTBEAT,
	R_HOST_DRAIN,
};

struct request {
	struct api *api;
	struct MHD_Connection *conn;
	const char *method;
	char path[512];
	uint64_t start_us;
	enum route route;
	char arg[STORE_ID_SIZE > STORE_NAME_SIZE ? STORE_ID_SIZE : STORE_NAME_SIZE]; /* name or id from the path */
	char tenant[STORE_NAME_SIZE]; /* the caller's tenant; "" for admin */
	bool authed, is_admin;
	/* The body: in memory, or an artifact streamed to a temp file. */
	struct buf body;
	uint64_t limit, received;
	bool too_big;
	int fd;
	char tmp_path[1200];
	struct sha256 hash;
	struct store_limits limits;
	bool async;
	/* The reply: JSON, or raw bytes with their own type and headers. */
	unsigned status;
	char *resp;
	size_t resp_len;
	const char *content_type;
	char id_header[STORE_ID_SIZE]; /* X-Ditto-Invocation-Id when set */
	char status_header[16];
	char cold_header[8];
	char timing_header[256];
	bool replied;
};

/* ---- replies (api.c) ---- */
void reply_json(struct request *r, unsigned status, json_t *o);
void reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void reply_internal(struct request *r, const char *what, int err);
/* Replies with bytes as they are; takes ownership of data (malloc'd). */
void reply_raw(struct request *r, unsigned status, const char *content_type, char *data, size_t len);

/* ---- parameters (api.c) ---- */
bool name_ok(const char *s, bool function);
const char *query(struct request *r, const char *key);
/* Reads an optional integer query parameter in lo..hi. Replies 400 and
 * returns false when it is malformed or out of range. */
bool query_uint(struct request *r, const char *key, long long lo, long long hi, long long *val);
/* Replies 400 and returns false when the query has a parameter not in keys. */
bool query_only(struct request *r, const char *const *keys);
/* Parses the body as a JSON object; an empty body is {} when allow_empty.
 * Replies 400 and returns NULL otherwise. */
json_t *body_object(struct request *r, bool allow_empty);
bool need_admin(struct request *r);
bool need_tenant(struct request *r);

/* ---- handlers: the db lock is NOT held; they take it around store calls ---- */
void tenant_create(struct request *r);
void tenant_list(struct request *r);
void tenant_get(struct request *r);
void key_create(struct request *r);
void scaling_set(struct request *r);
void hosts_list(struct request *r);
void host_register(struct request *r);
void host_heartbeat(struct request *r);
void host_drain(struct request *r);
void metrics_get(struct request *r);

/* Validates a deploy's limits from the query before its body is read. */
bool function_limits(struct request *r);
void function_list(struct request *r);
void function_get(struct request *r);
void function_put(struct request *r);
void function_delete(struct request *r);
/* Validates an invoke's query before its body is read (the input limit
 * depends on ?async). */
bool invoke_begin(struct request *r);
void function_invoke(struct request *r);
void invocation_get(struct request *r);
void invocation_list(struct request *r);

#endif
