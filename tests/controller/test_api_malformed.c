/* Malformed requests sent byte for byte to a real controller on loopback:
 * every one must get its 4xx status and code with the JSON error shape,
 * never a 5xx, an HTML page or no answer. One row per request: add rows
 * as new malformations turn up. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_fixture.h"
#include "raw_http.h"

enum who { NOBODY, ADMIN, TENANT };

struct row {
	const char *method;
	const char *target;
	enum who who;
	const char *headers; /* extra header lines, each ending in \r\n */
	const char *body;    /* NULL: none */
	int status;
	const char *code;
};

#define X64 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define JSON_TYPE "Content-Type: application/json\r\n"
#define INVOKE "/v1/functions/echo/invoke"
/* Over the fixture's --max-artifact. */
#define X1K X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64 X64
#define BIG X1K X1K X1K X1K X64

/* clang-format off */
static const struct row rows[] = {
	/* Text from the request that is not UTF-8, echoed in the message. */
	{ "GET", "/%FF", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/%C3", NOBODY, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/%E2%82", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/x%ED%A0%80", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/x%C0%AF", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/x%F4%90%80%80", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/functions/%C3", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/functions/%C3%A9", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/tenants/%FF%FE", ADMIN, NULL, NULL, 400, "bad_name" },
	{ "PATCH", "/v1/tenants/%FF", ADMIN, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/invocations/%FF", TENANT, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/invocations/%E2%82", TENANT, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/invocations/"
		 "%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9"
		 "%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9"
		 "%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9%C3%A9x",
	  TENANT, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/functions/echo?%FF=1", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/invocations?%C3=1", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/invocations?limit=%FF", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "POST", INVOKE "?%F0%9F%98=1", TENANT, NULL, "{}", 400, "bad_parameter" },
	{ "\xff", "/v1/tenants", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "G\xc3\x8bT", "/v1/tenants", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "GET\xc3", "/healthz", NOBODY, NULL, NULL, 405, "bad_method" },
	/* Methods. */
	{ "DELETE", "/v1/tenants", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "PATCH", "/v1/functions/echo", TENANT, NULL, NULL, 405, "bad_method" },
	{ "FOO", "/healthz", NOBODY, NULL, NULL, 405, "bad_method" },
	{ "get", "/healthz", NOBODY, NULL, NULL, 405, "bad_method" },
	{ "POST", "/healthz", NOBODY, NULL, "{}", 405, "bad_method" },
	{ "PUT", "/v1/invocations", TENANT, NULL, NULL, 405, "bad_method" },
	{ "GET", INVOKE, TENANT, NULL, NULL, 405, "bad_method" },
	/* A NUL in a path segment, a query key or a query value. */
	{ "GET", "/v1/functions/echo%00x", TENANT, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/functions/echo%00", TENANT, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/tenants/acme%00x", ADMIN, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/invocations/%00", TENANT, NULL, NULL, 400, "bad_request" },
	{ "POST", "/v1/functions/echo%00x/invoke", TENANT, NULL, "{}", 400, "bad_request" },
	{ "GET", "/%00", NOBODY, NULL, NULL, 400, "bad_request" },
	{ "GET", "/healthz%00", NOBODY, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/functions/echo?version=1%00x", TENANT, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/functions/echo?version%00x=1", TENANT, NULL, NULL, 400, "bad_request" },
	{ "POST", INVOKE "?async=true%00junk", TENANT, NULL, "{}", 400, "bad_request" },
	{ "GET", "/v1/invocations?function=echo%00x", TENANT, NULL, NULL, 400, "bad_request" },
	/* Numbers: strict decimal, in range. */
	{ "GET", "/v1/functions/echo?version=%201", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=+1", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=%2B1", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=1x", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=1%20", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=0", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=-1", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=99999999999999999999", TENANT, NULL, NULL, 400,
	  "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=0x10", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=1e3", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=%091", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/invocations?limit=%2B5", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/invocations?limit=5.0", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/invocations?limit=0", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "POST", INVOKE "?version=%2B1", TENANT, NULL, "{}", 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?timeout=%2B100", TENANT, NULL, "x", 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?memory=16abc", TENANT, NULL, "x", 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?max_concurrency=%201", TENANT, NULL, "x", 400,
	  "bad_parameter" },
	{ "PUT", "/v1/functions/echo?timeout=99", TENANT, NULL, "x", 400, "bad_parameter" },
	/* Query keys without a value, given twice, unknown or malformed. */
	{ "POST", INVOKE "?async", TENANT, NULL, "{}", 400, "bad_request" },
	{ "POST", INVOKE "?version", TENANT, NULL, "{}", 400, "bad_request" },
	{ "GET", "/v1/functions/echo?version", TENANT, NULL, NULL, 400, "bad_request" },
	{ "PUT", "/v1/functions/echo?encrypted", TENANT, NULL, "x", 400, "bad_request" },
	{ "GET", "/v1/invocations?limit", TENANT, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/tenants?x", ADMIN, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/functions/echo?version=", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "POST", INVOKE "?async=", TENANT, NULL, "{}", 400, "bad_parameter" },
	{ "GET", "/v1/functions/echo?version=1&version=2", TENANT, NULL, NULL, 400,
	  "bad_request" },
	{ "POST", INVOKE "?async=true&async=false", TENANT, NULL, "{}", 400, "bad_request" },
	{ "POST", INVOKE "?async=true&async=true", TENANT, NULL, "{}", 400, "bad_request" },
	{ "GET", "/v1/invocations?limit=1&limit=1", TENANT, NULL, NULL, 400, "bad_request" },
	{ "GET", "/v1/invocations?status=ok&status=error", TENANT, NULL, NULL, 400,
	  "bad_request" },
	{ "PUT", "/v1/functions/echo?mode=process&mode=persistent", TENANT, NULL, "x", 400,
	  "bad_request" },
	{ "POST", INVOKE "?async=yes", TENANT, NULL, "{}", 400, "bad_parameter" },
	{ "POST", INVOKE "?verbose=1", TENANT, NULL, "{}", 400, "bad_parameter" },
	{ "GET", "/v1/invocations?status=bogus", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/invocations?cursor=zzz", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/tenants/acme/attestation?nonce=zz", TENANT, NULL, NULL, 400,
	  "bad_parameter" },
	{ "PUT", "/v1/functions/echo?mode=fast", TENANT, NULL, "x", 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?runtime=cobol", TENANT, NULL, "x", 400, "bad_parameter" },
	/* Headers. */
	{ "POST", "/v1/tenants", ADMIN, "Content-Length: 2\r\nContent-Length: 3\r\n", "{}", 400,
	  "bad_request" },
	{ "POST", INVOKE, TENANT, "Content-Length: 2\r\nContent-Length: 20\r\n", "{}", 400,
	  "bad_request" },
	{ "POST", INVOKE, TENANT, "X-Ditto-Invocation-Id: xyz\r\n", "{}", 400,
	  "bad_parameter" },
	{ "GET", "/v1/tenants", NOBODY, NULL, NULL, 401, "unauthorized" },
	{ "GET", "/v1/tenants", NOBODY, "Authorization: Basic abc\r\n", NULL, 401,
	  "unauthorized" },
	{ "GET", "/v1/tenants", NOBODY, "Authorization: Bearer\r\n", NULL, 401, "unauthorized" },
	{ "GET", "/v1/tenants", TENANT, NULL, NULL, 403, "forbidden" },
	{ "GET", "/v1/functions", ADMIN, NULL, NULL, 403, "forbidden" },
	/* "." and ".." are no names. */
	{ "GET", "/v1/functions/.", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/functions/..", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/functions/%2E%2E", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/functions/%2e", TENANT, NULL, NULL, 400, "bad_name" },
	{ "PUT", "/v1/functions/..", TENANT, NULL, "x", 400, "bad_name" },
	{ "DELETE", "/v1/functions/.", TENANT, NULL, NULL, 400, "bad_name" },
	{ "POST", "/v1/functions/../invoke", TENANT, NULL, "{}", 400, "bad_name" },
	{ "GET", "/v1/tenants/..", ADMIN, NULL, NULL, 400, "bad_name" },
	{ "POST", "/v1/hosts/../heartbeat", ADMIN, NULL, "{}", 400, "bad_name" },
	{ "POST", "/v1/hosts/./drain", ADMIN, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/invocations?function=..", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"..\"}", 400, "bad_name" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\".\"}", 400, "bad_name" },
	/* An invocation's input by its Content-Type. */
	{ "POST", INVOKE, TENANT, JSON_TYPE, "{", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, JSON_TYPE, "not json", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, JSON_TYPE, "{\"a\":1} x", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, JSON_TYPE, "[1,2", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, JSON_TYPE, "nul", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, JSON_TYPE, "\"\xff\"", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, JSON_TYPE, "{'a':1}", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, "Content-Type: application/json; charset=utf-8\r\n",
	  "{\"a\":}", 400, "bad_json" },
	{ "POST", INVOKE "?async=true", TENANT, JSON_TYPE, "{\"a\"", 400, "bad_json" },
	{ "POST", INVOKE, TENANT, "Content-Type: text/plain\r\n", "{}", 415,
	  "unsupported_media_type" },
	{ "POST", INVOKE, TENANT, "Content-Type: application/xml\r\n", "<a/>", 415,
	  "unsupported_media_type" },
	{ "POST", INVOKE, TENANT, "Content-Type: application/jsonx\r\n", "{}", 415,
	  "unsupported_media_type" },
	{ "POST", INVOKE, TENANT, "Content-Type: \r\n", "{}", 415, "unsupported_media_type" },
	{ "POST", INVOKE, TENANT, "Content-Type: application/x-www-form-urlencoded\r\n", "a=1",
	  415, "unsupported_media_type" },
	{ "POST", INVOKE, TENANT, "Content-Type: multipart/form-data; boundary=x\r\n", "{}", 415,
	  "unsupported_media_type" },
	{ "POST", INVOKE, TENANT, "Content-Type: \xff\r\n", "{}", 415,
	  "unsupported_media_type" },
	/* Bodies of the other routes. */
	{ "POST", "/v1/tenants", ADMIN, NULL, "[]", 400, "bad_json" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{", 400, "bad_json" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "", 400, "bad_json" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":7}", 400, "bad_name" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"z1\",\"color\":\"red\"}", 400,
	  "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"min\":\"1\"}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"policy\":\"elastic:+5\"}", 400,
	  "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"policy\":\"fixed: 1\"}", 400,
	  "bad_field" },
	{ "POST", "/v1/hosts", ADMIN, NULL, "{}", 400, "bad_field" },
	/* Scaling that could never run anything. */
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"z2\",\"policy\":\"fixed:0\"}", 400,
	  "bad_field" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"z3\",\"max\":0}", 400, "bad_field" },
	{ "POST", "/v1/tenants", ADMIN, NULL,
	  "{\"name\":\"z4\",\"policy\":\"fixed:0\",\"max\":2}", 400, "bad_field" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"z5\",\"max\":-1}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"policy\":\"fixed:0\"}", 400,
	  "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"max\":0}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL,
	  "{\"min\":0,\"max\":0,\"policy\":\"elastic\"}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL,
	  "{\"max\":0,\"policy\":\"scale-out\"}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"policy\":\"manual\"}", 400,
	  "bad_field" },
	/* Every route under a method it does not take. */
	{ "PUT", "/healthz", NOBODY, NULL, "{}", 405, "bad_method" },
	{ "DELETE", "/metrics", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "PATCH", "/v1/tenants/acme", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "PUT", "/v1/tenants/acme/keys", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "POST", "/v1/tenants/acme/scaling", ADMIN, NULL, "{}", 405, "bad_method" },
	{ "DELETE", "/v1/tenants/acme/attestation", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "PUT", "/v1/hosts", ADMIN, NULL, "{}", 405, "bad_method" },
	{ "GET", "/v1/hosts/h1/heartbeat", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "PUT", "/v1/hosts/h1/drain", ADMIN, NULL, NULL, 405, "bad_method" },
	{ "POST", "/v1/functions", TENANT, NULL, "{}", 405, "bad_method" },
	{ "POST", "/v1/functions/echo", TENANT, NULL, "{}", 405, "bad_method" },
	{ "DELETE", "/v1/invocations", TENANT, NULL, NULL, 405, "bad_method" },
	{ "POST", "/v1/invocations/0123456789abcdef0123456789abcdef", TENANT, NULL, "{}", 405, "bad_method" },
	{ "OPTIONS", "/v1/functions", TENANT, NULL, NULL, 405, "bad_method" },
	{ "TRACE", "/healthz", NOBODY, NULL, NULL, 405, "bad_method" },
	/* Every route without a key, or with one that is no key. */
	{ "GET", "/metrics", NOBODY, NULL, NULL, 401, "unauthorized" },
	{ "POST", "/v1/tenants", NOBODY, NULL, "{\"name\":\"z7\"}", 401, "unauthorized" },
	{ "GET", "/v1/tenants/acme", NOBODY, NULL, NULL, 401, "unauthorized" },
	{ "POST", "/v1/tenants/acme/keys", NOBODY, NULL, NULL, 401, "unauthorized" },
	{ "PUT", "/v1/tenants/acme/scaling", NOBODY, NULL, "{}", 401, "unauthorized" },
	{ "GET", "/v1/tenants/acme/attestation?nonce=00", NOBODY, NULL, NULL, 401,
	  "unauthorized" },
	{ "GET", "/v1/hosts", NOBODY, NULL, NULL, 401, "unauthorized" },
	{ "POST", "/v1/hosts/h1/heartbeat", NOBODY, NULL, "{}", 401, "unauthorized" },
	{ "GET", "/v1/functions", NOBODY, NULL, NULL, 401, "unauthorized" },
	{ "PUT", "/v1/functions/echo", NOBODY, NULL, "x", 401, "unauthorized" },
	{ "POST", INVOKE, NOBODY, NULL, "{}", 401, "unauthorized" },
	{ "GET", "/v1/invocations", NOBODY, NULL, NULL, 401, "unauthorized" },
	{ "GET", "/v1/functions", NOBODY,
	  "Authorization: Bearer dk_0000000000000000000000000000000000000000\r\n", NULL, 401,
	  "unauthorized" },
	{ "GET", "/v1/functions", NOBODY, "Authorization: Bearer    \r\n", NULL, 401,
	  "unauthorized" },
	{ "GET", "/v1/functions", NOBODY, "Authorization: bearer x y\r\n", NULL, 401,
	  "unauthorized" },
	{ "GET", "/v1/functions", NOBODY, "Authorization: Bearer \xff\xfe\r\n", NULL, 401,
	  "unauthorized" },
	/* The wrong kind of key, or another tenant's resources. */
	{ "GET", "/metrics", TENANT, NULL, NULL, 403, "forbidden" },
	{ "POST", "/v1/tenants", TENANT, NULL, "{\"name\":\"z8\"}", 403, "forbidden" },
	{ "PUT", "/v1/tenants/acme/scaling", TENANT, NULL, "{}", 403, "forbidden" },
	{ "GET", "/v1/hosts", TENANT, NULL, NULL, 403, "forbidden" },
	{ "POST", "/v1/hosts", TENANT, NULL, "{}", 403, "forbidden" },
	{ "POST", "/v1/hosts/h1/drain", TENANT, NULL, NULL, 403, "forbidden" },
	{ "PUT", "/v1/functions/echo", ADMIN, NULL, "x", 403, "forbidden" },
	{ "POST", INVOKE, ADMIN, NULL, "{}", 403, "forbidden" },
	{ "GET", "/v1/invocations", ADMIN, NULL, NULL, 403, "forbidden" },
	{ "GET", "/v1/tenants/other", TENANT, NULL, NULL, 403, "forbidden" },
	{ "POST", "/v1/tenants/other/keys", TENANT, NULL, NULL, 403, "forbidden" },
	{ "GET", "/v1/tenants/other/attestation?nonce=00", TENANT, NULL, NULL, 403, "forbidden" },
	/* Nothing there. */
	{ "GET", "/v1/tenants/nobody", ADMIN, NULL, NULL, 404, "not_found" },
	{ "PUT", "/v1/tenants/nobody/scaling", ADMIN, NULL, "{}", 404, "not_found" },
	{ "POST", "/v1/tenants/nobody/keys", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/functions/nothing", TENANT, NULL, NULL, 404, "not_found" },
	{ "DELETE", "/v1/functions/nothing", TENANT, NULL, NULL, 404, "not_found" },
	{ "POST", "/v1/functions/nothing/invoke", TENANT, JSON_TYPE, "{}", 404, "not_found" },
	{ "GET", "/v1/invocations/0123456789abcdef0123456789abcdef", TENANT, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/invocations/0123", TENANT, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/invocations/0123456789abcdef0123456789abcdef" "0", TENANT, NULL, NULL, 404, "not_found" },
	{ "POST", "/v1/hosts/h9/heartbeat", ADMIN, NULL, "{\"boot_id\":\"b\",\"status\":{}}", 404,
	  "not_found" },
	{ "POST", "/v1/hosts/h9/drain", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/functions/echo/x", TENANT, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/tenants/", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/functions/", TENANT, NULL, NULL, 404, "not_found" },
	{ "GET", "//v1/tenants", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1", ADMIN, NULL, NULL, 404, "not_found" },
	{ "GET", "/v1/tenants/acme/", ADMIN, NULL, NULL, 404, "not_found" },
	/* Names. */
	{ "GET", "/v1/functions/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/functions/a%20b", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/functions/a*b", TENANT, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/tenants/ACME", ADMIN, NULL, NULL, 400, "bad_name" },
	{ "GET", "/v1/tenants/a.b", ADMIN, NULL, NULL, 400, "bad_name" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"Acme\"}", 400, "bad_name" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"a_b\"}", 400, "bad_name" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"\"}", 400, "bad_name" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 400, "bad_name" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"a\\u0000b\"}", 400, "bad_json" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"acme\"}", 409, "exists" },
	/* Bodies. */
	{ "POST", "/v1/hosts/h1/heartbeat", ADMIN, NULL, "[]", 400, "bad_json" },
	{ "POST", "/v1/hosts/h1/heartbeat", ADMIN, NULL, "{", 400, "bad_json" },
	{ "POST", "/v1/hosts", ADMIN, NULL, "[]", 400, "bad_json" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "[]", 400, "bad_json" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"bogus\":1}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"mechanism\":\"x\"}", 400,
	  "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"min\":5,\"max\":2}", 400,
	  "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"max\":65}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"max\":1.5}", 400, "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"confidential\":\"tdx\"}", 400,
	  "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"attestation\":\"required\"}", 400,
	  "bad_field" },
	{ "PUT", "/v1/tenants/acme/scaling", ADMIN, NULL, "{\"host_data\":\"xyz\"}", 400,
	  "bad_field" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"z6\",\"confidential\":\"sev-snp\"}", 400,
	  "bad_field" },
	{ "POST", "/v1/tenants", ADMIN, NULL, "{\"name\":\"z9\",\"min\":\"0\"}", 400, "bad_field" },
	{ "PUT", "/v1/functions/echo", TENANT, NULL, "", 400, "empty" },
	{ "PUT", "/v1/functions/big", TENANT, NULL, BIG, 413, "too_large" },
	/* Queries of the other routes. */
	{ "GET", "/v1/functions/echo?version=1&x=2", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?handler=", TENANT, NULL, "x", 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?timeout=300001", TENANT, NULL, "x", 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?memory=15", TENANT, NULL, "x", 400, "bad_parameter" },
	{ "PUT", "/v1/functions/echo?max_concurrency=1001", TENANT, NULL, "x", 400,
	  "bad_parameter" },
	{ "PUT", "/v1/functions/echo?encrypted=TRUE", TENANT, NULL, "x", 400, "bad_parameter" },
	{ "GET", "/v1/invocations?function=%C3", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/invocations?function=a%20b", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/tenants/acme/attestation", TENANT, NULL, NULL, 400, "bad_parameter" },
	{ "GET", "/v1/tenants/acme/attestation?nonce=0", TENANT, NULL, NULL, 400,
	  "bad_parameter" },
	{ "GET", "/v1/tenants/acme/attestation?nonce=00&nonce=11", TENANT, NULL, NULL, 400,
	  "bad_request" },
	{ "GET", "/v1/tenants/acme/attestation?nonce", TENANT, NULL, NULL, 400, "bad_request" },
	{ "GET", "/healthz?x&x", NOBODY, NULL, NULL, 400, "bad_request" },
	/* Handlers that are not UTF-8 or do not suit the runtime. */
	{ "PUT", "/v1/functions/f?runtime=shell&handler=%FF", TENANT, NULL, "x", 400,
	  "bad_parameter" },
	{ "PUT", "/v1/functions/f?runtime=python3&handler=%C3", TENANT, NULL, "x", 400,
	  "bad_parameter" },
	{ "PUT", "/v1/functions/f?runtime=nodejs&handler=a%C3.b", TENANT, NULL, "x", 400,
	  "bad_parameter" },
	{ "PUT", "/v1/functions/f?encrypted=true&handler=%FF", TENANT, NULL, "x", 400,
	  "bad_parameter" },
	{ "PUT", "/v1/functions/f?handler=m%FF.main", TENANT, NULL, "x", 400, "bad_function" },
	{ "POST", "/v1/hosts", ADMIN, NULL, "{\"id\":\"..\"}", 400, "bad_field" },
	{ "GET", "/healthz", NOBODY, NULL, "xx", 413, "too_large" },
};
/* clang-format on */

/* Sends every row and checks its answer. The tenant "acme" exists; nothing
 * is deployed, so no row can reach an agent. */
static void test_malformed(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	int port = daemon_proc_port(&f->proc);
	int failures = 0;
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct row *w = &rows[i];
		const char *who = w->who == ADMIN ? f->admin : w->who == TENANT ? key : NULL;
		struct raw_reply r;
		raw_call(port, w->method, w->target, who, w->headers, w->body, 0, &r);
		const char *code = raw_error_code(&r);
		bool ok = r.status == w->status && code && !strcmp(code, w->code);
		if (!ok) {
			fprintf(stderr, "row %zu: %s %s: want %d %s, got %d %s (%s)\n", i,
				w->method, w->target, w->status, w->code, r.status,
				code ? code : "(no JSON error)", raw_error_message(&r));
			failures++;
		}
		/* Never a 5xx, whatever the row expects. */
		assert_true(r.status >= 400 && r.status < 500);
		raw_reply_free(&r);
	}
	fprintf(stderr, "%zu malformed requests, %d answered otherwise than expected\n",
		ARRAY_SIZE(rows), failures);
	assert_int_equal(failures, 0);
	/* Nothing a row sent was created. */
	json_t *o;
	assert_int_equal(call(f, f->admin, "GET", "/v1/tenants", NULL, 0, &o), 200);
	assert_int_equal(json_array_size(json_object_get(o, "tenants")), 1);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
