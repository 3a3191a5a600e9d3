/* How the stand-in controllers of the CLI's tests answer: 200 with a JSON
 * body. Included by the tests that start one (each a program of its own). */
#ifndef DITTO_TESTS_CLI_REPLY_JSON_H
#define DITTO_TESTS_CLI_REPLY_JSON_H

#include <string.h>

#include <microhttpd.h>

/* Queues 200 with text (JSON, malloc'd; taken) as the body. */
static enum MHD_Result reply_json(struct MHD_Connection *conn, char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text,
								    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result r = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return r;
}

#endif
