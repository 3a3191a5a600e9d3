/* The controller's request routing and validation, the pure parts of
 * controller/api.c and lib/httpd: the route lookup over every handler
 * file's table, the checks of a path's names and ids, the bearer token, the
 * Content-Length policy and the error body a refusal carries.
 *
 * Input: a method up to the first NUL, then a path up to the next (both cut
 * as the server keeps them). Checked: a route found has this method and a
 * pattern that matches the path, its arguments are non-empty segments of
 * the path; a 405 names a path some route matches, a 404 one no route
 * matches; an empty method is never allowed; a name the checks accept uses
 * only its allowed characters; a token lies inside its header; a length
 * accepted is all digits, and so is a query number (with its sign); and the
 * error body for any method and path builds and reads back as JSON. */
#include <errno.h>
#include <string.h>

#include "controller_int.h"
#include "fuzz.h"

#define METHOD_MAX 16

static bool any_row_matches(const char *path)
{
	const struct {
		const struct api_route *rows;
		size_t n;
	} tables[] = {
		{ api_function_routes, api_function_routes_n },
		{ api_operator_routes, api_operator_routes_n },
	};
	for (size_t t = 0; t < 2; t++)
		for (size_t i = 0; i < tables[t].n; i++)
			if (httpd_path_match(tables[t].rows[i].head.pattern, path, NULL))
				return true;
	return false;
}

static void check_args(const struct httpd_args *args, const char *path)
{
	size_t len = strlen(path);
	FUZZ_CHECK(args->n >= 0 && args->n <= HTTPD_MAX_ARGS);
	for (int i = 0; i < args->n; i++) {
		const char *p = args->v[i].p;
		size_t n = args->v[i].len;
		FUZZ_CHECK(p >= path && n > 0 && n <= (size_t)(path + len - p));
		FUZZ_CHECK(memchr(p, '/', n) == NULL);
		char name[STORE_ID_SIZE > STORE_NAME_SIZE ? STORE_ID_SIZE : STORE_NAME_SIZE];
		int r = httpd_arg_copy(args, i, name, sizeof(name));
		FUZZ_CHECK(r == 0 || r == -ENAMETOOLONG);
		if (r < 0)
			continue;
		FUZZ_CHECK(strlen(name) <= n);
		/* What the checks accept: tenant names [a-z0-9-], function and
		 * host names also [A-Z_.], ids lower-case hex. */
		bool tenant = name_ok(name, false), function = name_ok(name, true);
		FUZZ_CHECK(!tenant || function);
		if (function) {
			size_t k = strlen(name);
			FUZZ_CHECK(k >= 1 && k < STORE_NAME_SIZE && k == n);
			FUZZ_CHECK(strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-"
						"ABCDEFGHIJKLMNOPQRSTUVWXYZ_.") == k);
		}
		if (store_is_lower_hex(name, STORE_ID_SIZE - 1))
			FUZZ_CHECK(strspn(name, "0123456789abcdef") == STORE_ID_SIZE - 1);
	}
}

static void check_route(const char *method, const char *path)
{
	const struct api_route *row = NULL;
	struct httpd_args args;
	int r = api_route_lookup(method, path, &row, &args);
	FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EPERM);
	if (r == 0) {
		FUZZ_CHECK(row && method[0] && strcmp(row->head.method, method) == 0);
		FUZZ_CHECK(httpd_path_match(row->head.pattern, path, NULL));
		FUZZ_CHECK(row->handle != NULL);
	}
	if (r == -ENOENT)
		FUZZ_CHECK(!any_row_matches(path));
	else
		check_args(&args, path);
	if (r == -EPERM)
		FUZZ_CHECK(any_row_matches(path));
}

/* The error bodies the router sends carry the method and the path. */
static void check_error_body(const char *method, const char *path)
{
	json_t *o = httpd_error_json("bad_method", "%.16s is not allowed on %.200s", method, path);
	FUZZ_CHECK(o != NULL);
	char *text = json_dumps(o, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	json_t *back = json_loads(text, 0, NULL);
	FUZZ_CHECK(json_is_string(json_object_get(json_object_get(back, "error"), "message")));
	json_decref(back);
	free(text);
	json_decref(o);

	size_t len;
	text = httpd_error_text("not_found", path, &len);
	FUZZ_CHECK(text && strlen(text) == len);
	back = json_loadb(text, len, 0, NULL);
	FUZZ_CHECK(json_is_object(back));
	json_decref(back);
	free(text);
}

static void check_headers(const char *value)
{
	const char *token = httpd_bearer(value, STORE_TOKEN_SIZE - 1);
	if (token)
		FUZZ_CHECK(token > value && token[0] && strlen(token) <= STORE_TOKEN_SIZE - 1 &&
			   token + strlen(token) == value + strlen(value));
	uint64_t declared;
	enum httpd_length l = httpd_content_length(value, 1024, &declared);
	if (l != HTTPD_LENGTH_BAD)
		FUZZ_CHECK(value[0] && strspn(value, "0123456789") == strlen(value));
	if (l == HTTPD_LENGTH_OK)
		FUZZ_CHECK(declared <= 1024);
	FUZZ_CHECK(httpd_content_length(NULL, 1024, NULL) == HTTPD_LENGTH_OK);
}

/* Query numbers (?timeout_ms=, ?limit=, ...) go through the strict integer
 * parsers: digits only, one leading '-' for the signed one. */
static void check_numbers(const char *value)
{
	int64_t v = 7;
	int r = parse_i64(value, -1000, 1000000, &v);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	size_t digits = strspn(value + (value[0] == '-'), "0123456789");
	bool number = digits > 0 && value[(value[0] == '-') + digits] == '\0';
	if (r != -EINVAL)
		FUZZ_CHECK(number);
	if (r == 0) {
		FUZZ_CHECK(v >= -1000 && v <= 1000000);
		char back[32];
		snprintf(back, sizeof(back), "%lld", (long long)v);
		int64_t again;
		FUZZ_CHECK(parse_i64(back, -1000, 1000000, &again) == 0 && again == v);
	} else {
		FUZZ_CHECK(v == 7);
	}
	uint64_t u = 7;
	r = parse_u64(value, 0, UINT64_MAX, &u);
	if (r == 0)
		FUZZ_CHECK(value[0] != '-' && number);
	else
		FUZZ_CHECK(u == 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char method[METHOD_MAX + 1], path[512];
	const uint8_t *nul = memchr(data, '\0', size);
	size_t mlen = nul ? (size_t)(nul - data) : size;
	if (mlen > METHOD_MAX)
		return 0;
	memcpy(method, data, mlen);
	method[mlen] = '\0';
	const uint8_t *rest = nul ? nul + 1 : data + size;
	size_t plen = (size_t)(data + size - rest);
	const uint8_t *end = memchr(rest, '\0', plen);
	if (end)
		plen = (size_t)(end - rest);
	/* The server keeps at most 511 bytes of a path. */
	if (plen > sizeof(path) - 1)
		plen = sizeof(path) - 1;
	memcpy(path, rest, plen);
	path[plen] = '\0';

	check_route(method, path);
	check_error_body(method, path);
	check_headers(path);
	check_numbers(path);
	return 0;
}
