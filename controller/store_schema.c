/* Each engine's schema, as versioned steps (store.c's migrate() runs the
 * missing ones). Both engines' tables have the same names and columns, so
 * that a copy of the store can go from one to the other. */
#include "store_engine.h"

/* The tables several controllers share: one row per controller, its
 * address and last heartbeat (the database's clock), and one row holding
 * the leader's epoch, the fencing token of its once-only writes. */
#define CLUSTER_TABLES(INT)                                                     \
	"CREATE INDEX invocations_by_controller ON invocations(controller)"     \
	"  WHERE status IN ('queued','running');"                               \
	"CREATE TABLE controllers ("                                            \
	"  id TEXT PRIMARY KEY,"                                                \
	"  address TEXT NOT NULL,"                                              \
	"  started_ms " INT " NOT NULL,"                                        \
	"  last_seen_ms " INT " NOT NULL"                                       \
	");"                                                                    \
	"CREATE TABLE cluster_leader ("                                         \
	"  one " INT " PRIMARY KEY CHECK (one = 1),"                            \
	"  epoch " INT " NOT NULL,"                                             \
	"  controller TEXT,"                                                    \
	"  since_ms " INT                                                       \
	");"                                                                    \
	"INSERT INTO cluster_leader (one, epoch) VALUES (1, 0);"

/* Each schema version is one step; a database at user_version N runs steps
 * N+1.. in order, each in its own transaction, so later versions only ever
 * append steps here and never edit an applied one. */
const char *const store_sqlite_schema[STORE_SQLITE_SCHEMA_VERSION] = {
	/* 1: the initial schema. Names are the keys: they are what the API
	 * speaks, and a tenant or function is never renamed. */
	"CREATE TABLE tenants ("
	"  name TEXT PRIMARY KEY,"
	"  created_ms INTEGER NOT NULL,"
	"  min_workers INTEGER NOT NULL DEFAULT 0,"
	"  max_workers INTEGER NOT NULL DEFAULT 4,"
	"  mechanism TEXT NOT NULL DEFAULT 'hotplug',"
	"  policy TEXT NOT NULL DEFAULT 'elastic'"
	") WITHOUT ROWID;"
	"CREATE TABLE api_keys ("
	"  key_id TEXT PRIMARY KEY,"
	"  tenant TEXT REFERENCES tenants(name)," /* NULL: an admin key */
	"  salt BLOB NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  revoked_ms INTEGER"
	");"
	"CREATE TABLE artifacts ("
	"  digest TEXT PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  created_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"
	/* latest is the highest version ever stored, so numbers are never
	 * reused; first_live is the first version of the current incarnation
	 * (a put after a delete starts a new one). */
	"CREATE TABLE functions ("
	"  tenant TEXT NOT NULL REFERENCES tenants(name),"
	"  name TEXT NOT NULL,"
	"  latest INTEGER NOT NULL,"
	"  first_live INTEGER NOT NULL,"
	"  deleted INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (tenant, name)"
	") WITHOUT ROWID;"
	"CREATE TABLE function_versions ("
	"  tenant TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  digest TEXT NOT NULL REFERENCES artifacts(digest),"
	"  timeout_ms INTEGER NOT NULL,"
	"  memory_mib INTEGER NOT NULL,"
	"  max_concurrency INTEGER NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  created_ms INTEGER NOT NULL,"
	"  PRIMARY KEY (tenant, name, version),"
	"  FOREIGN KEY (tenant, name) REFERENCES functions(tenant, name)"
	") WITHOUT ROWID;"
	/* The database itself refuses to change a stored version. */
	"CREATE TRIGGER function_versions_immutable BEFORE UPDATE ON function_versions"
	"  BEGIN SELECT RAISE(ABORT, 'function versions are immutable'); END;"
	"CREATE TABLE invocations ("
	"  id TEXT PRIMARY KEY,"
	"  tenant TEXT NOT NULL,"
	"  function TEXT NOT NULL,"
	"  version INTEGER NOT NULL,"
	"  async INTEGER NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('queued','running','ok','error','timeout')),"
	"  retries INTEGER NOT NULL DEFAULT 0,"
	"  created_ms INTEGER NOT NULL,"
	"  started_ms INTEGER,"
	"  finished_ms INTEGER,"
	"  host TEXT, vm TEXT, cpu INTEGER,"
	"  input BLOB, result BLOB, log BLOB, error TEXT,"
	"  queued_us INTEGER, cold_start_us INTEGER, exec_us INTEGER, total_us INTEGER,"
	"  cold_start INTEGER,"
	"  FOREIGN KEY (tenant, function, version)"
	"    REFERENCES function_versions(tenant, name, version)"
	");"
	/* Listing pages through a tenant's records newest first. */
	"CREATE INDEX invocations_by_tenant ON invocations(tenant, created_ms, id);"
	/* Recovery and retention only look at the few unfinished records or
	 * at finished ones by age. */
	"CREATE INDEX invocations_unfinished ON invocations(status)"
	"  WHERE status IN ('queued','running');"
	"CREATE INDEX invocations_by_finish ON invocations(finished_ms)"
	"  WHERE finished_ms IS NOT NULL;"
	"CREATE TABLE hosts ("
	"  id TEXT PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  cores INTEGER NOT NULL,"
	"  registered_ms INTEGER NOT NULL,"
	"  last_seen_ms INTEGER NOT NULL,"
	"  down INTEGER NOT NULL DEFAULT 0,"
	"  draining INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;",
	/* 2: what the agent said of the VM an invocation ran on: its active
	 * worker vCPUs and its worker-vCPU milliseconds so far (NULL: not said). */
	"ALTER TABLE invocations ADD COLUMN workers INTEGER;"
	"ALTER TABLE invocations ADD COLUMN vcpu_alloc_ms INTEGER;"
	"ALTER TABLE invocations ADD COLUMN vcpu_busy_ms INTEGER;",
	/* 3: confidential tenants (how their VMs run, and whether invocations
	 * need verified hardware evidence) and end-to-end encrypted function
	 * versions. */
	"ALTER TABLE tenants ADD COLUMN confidential TEXT NOT NULL DEFAULT 'none';"
	"ALTER TABLE tenants ADD COLUMN attestation TEXT NOT NULL DEFAULT 'optional';"
	"ALTER TABLE function_versions ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;",
	/* 4: the HOST_DATA a tenant's confidential VMs are launched with (the
	 * commitment to the tenant secret they accept; NULL: none). */
	"ALTER TABLE tenants ADD COLUMN host_data TEXT;",
	/* 5: how a version runs (binary, shell, python3, nodejs) and the
	 * handler its launcher loads (NULL: none), and the exception a failed
	 * invocation raised (JSON: type, message, traceback; NULL: none). */
	"ALTER TABLE function_versions ADD COLUMN runtime TEXT NOT NULL DEFAULT 'binary';"
	"ALTER TABLE function_versions ADD COLUMN handler TEXT;"
	"ALTER TABLE invocations ADD COLUMN exception TEXT;",
	/* 6: when garbage collection deleted an artifact's file (NULL: it is
	 * there). The row stays: deleted functions' versions still name it. */
	"ALTER TABLE artifacts ADD COLUMN collected_ms INTEGER;",
	/* 7: the most invocations of a tenant's functions running at once. */
	"ALTER TABLE tenants ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 100;",
	/* 8: several controllers (store_cluster.c): who runs or queues each
	 * record (NULL: nobody, to be claimed), the controllers' heartbeats,
	 * and the leader's epoch. SQLite serves one controller, but keeps the
	 * same tables so that a copy can go either way. */
	"ALTER TABLE invocations ADD COLUMN controller TEXT;" CLUSTER_TABLES("INTEGER"),
};

/* PostgreSQL's steps, numbered on their own: its first is SQLite's seventh
 * schema whole. Integers and times are BIGINT (booleans too, 0 or 1, so
 * that one SQL text serves both engines), blobs BYTEA. */
const char *const store_pg_schema[STORE_PG_SCHEMA_VERSION] = {
	/* 1 */
	"CREATE TABLE tenants ("
	"  name TEXT PRIMARY KEY,"
	"  created_ms BIGINT NOT NULL,"
	"  min_workers BIGINT NOT NULL DEFAULT 0,"
	"  max_workers BIGINT NOT NULL DEFAULT 4,"
	"  mechanism TEXT NOT NULL DEFAULT 'hotplug',"
	"  policy TEXT NOT NULL DEFAULT 'elastic',"
	"  confidential TEXT NOT NULL DEFAULT 'none',"
	"  attestation TEXT NOT NULL DEFAULT 'optional',"
	"  host_data TEXT,"
	"  concurrency BIGINT NOT NULL DEFAULT 100"
	");"
	"CREATE TABLE api_keys ("
	"  key_id TEXT PRIMARY KEY,"
	"  tenant TEXT REFERENCES tenants(name)," /* NULL: an admin key */
	"  salt BYTEA NOT NULL,"
	"  hash BYTEA NOT NULL,"
	"  created_ms BIGINT NOT NULL,"
	"  revoked_ms BIGINT"
	");"
	"CREATE TABLE artifacts ("
	"  digest TEXT PRIMARY KEY,"
	"  size BIGINT NOT NULL,"
	"  created_ms BIGINT NOT NULL,"
	"  collected_ms BIGINT"
	");"
	"CREATE TABLE functions ("
	"  tenant TEXT NOT NULL REFERENCES tenants(name),"
	"  name TEXT NOT NULL,"
	"  latest BIGINT NOT NULL,"
	"  first_live BIGINT NOT NULL,"
	"  deleted BIGINT NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (tenant, name)"
	");"
	"CREATE TABLE function_versions ("
	"  tenant TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  version BIGINT NOT NULL,"
	"  digest TEXT NOT NULL REFERENCES artifacts(digest),"
	"  timeout_ms BIGINT NOT NULL,"
	"  memory_mib BIGINT NOT NULL,"
	"  max_concurrency BIGINT NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  created_ms BIGINT NOT NULL,"
	"  encrypted BIGINT NOT NULL DEFAULT 0,"
	"  runtime TEXT NOT NULL DEFAULT 'binary',"
	"  handler TEXT,"
	"  PRIMARY KEY (tenant, name, version),"
	"  FOREIGN KEY (tenant, name) REFERENCES functions(tenant, name)"
	");"
	/* The database itself refuses to change a stored version; the error
	 * is a constraint's, as SQLite's trigger gives. */
	"CREATE FUNCTION function_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS"
	"  $$BEGIN RAISE EXCEPTION 'function versions are immutable'"
	"  USING ERRCODE = 'restrict_violation'; END$$;"
	"CREATE TRIGGER function_versions_immutable BEFORE UPDATE ON function_versions"
	"  FOR EACH ROW EXECUTE FUNCTION function_versions_immutable();"
	"CREATE TABLE invocations ("
	"  id TEXT PRIMARY KEY,"
	"  tenant TEXT NOT NULL,"
	"  function TEXT NOT NULL,"
	"  version BIGINT NOT NULL,"
	"  async BIGINT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('queued','running','ok','error','timeout')),"
	"  retries BIGINT NOT NULL DEFAULT 0,"
	"  created_ms BIGINT NOT NULL,"
	"  started_ms BIGINT,"
	"  finished_ms BIGINT,"
	"  host TEXT, vm TEXT, cpu BIGINT,"
	"  input BYTEA, result BYTEA, log BYTEA, error TEXT,"
	"  queued_us BIGINT, cold_start_us BIGINT, exec_us BIGINT, total_us BIGINT,"
	"  cold_start BIGINT,"
	"  workers BIGINT, vcpu_alloc_ms BIGINT, vcpu_busy_ms BIGINT,"
	"  exception TEXT,"
	"  FOREIGN KEY (tenant, function, version)"
	"    REFERENCES function_versions(tenant, name, version)"
	");"
	"CREATE INDEX invocations_by_tenant ON invocations(tenant, created_ms, id);"
	"CREATE INDEX invocations_unfinished ON invocations(status)"
	"  WHERE status IN ('queued','running');"
	"CREATE INDEX invocations_by_finish ON invocations(finished_ms)"
	"  WHERE finished_ms IS NOT NULL;"
	"CREATE TABLE hosts ("
	"  id TEXT PRIMARY KEY,"
	"  address TEXT NOT NULL,"
	"  cores BIGINT NOT NULL,"
	"  registered_ms BIGINT NOT NULL,"
	"  last_seen_ms BIGINT NOT NULL,"
	"  down BIGINT NOT NULL DEFAULT 0,"
	"  draining BIGINT NOT NULL DEFAULT 0"
	");",
	/* 2: artifacts' bytes, so that every controller can read them
	 * (store_artifacts.c): chunks of 1 MiB, stored as they are (artifacts
	 * are mostly compressed already). No reference to artifacts: the
	 * bytes go in before the record that names them. */
	"CREATE TABLE artifact_chunks ("
	"  digest TEXT NOT NULL,"
	"  seq BIGINT NOT NULL,"
	"  data BYTEA NOT NULL,"
	"  PRIMARY KEY (digest, seq)"
	");"
	"ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;",
	/* 3: several controllers, as SQLite's step 8. */
	"ALTER TABLE invocations ADD COLUMN controller TEXT;" CLUSTER_TABLES("BIGINT"),
};
