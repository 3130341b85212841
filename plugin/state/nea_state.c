/*
 * nea_state.c: deployments and events in SQLite.
 *
 * Every statement is prepared with bound parameters; every write is a
 * transaction of its own, so a process killed at any point leaves either the
 * old row or the new one.  Migrations run forward in one transaction each.
 */
#include "nea_state.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nea_lock.h"
#include "nea_state_int.h"
#include "nea_util.h"


static int64_t default_now(void)
{
    return (int64_t)time(NULL);
}

static const char *const migrations[] = {
    /* 1: deployments and their events */
    "CREATE TABLE deployments ("
    " tenant TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " plan TEXT NOT NULL,"
    " host TEXT NOT NULL,"
    " pool TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " step TEXT,"
    " spec_hash TEXT,"
    " spec TEXT,"
    " mac TEXT NOT NULL,"
    " uuid TEXT NOT NULL,"
    " instance_id TEXT,"
    " disk_volume TEXT,"
    " seed_volume TEXT,"
    " last_error TEXT,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL);"
    "CREATE INDEX deployments_name ON deployments(host, name);"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at INTEGER NOT NULL,"
    " tenant TEXT NOT NULL,"
    " kind TEXT NOT NULL,"
    " detail TEXT);"
    "CREATE INDEX events_tenant ON events(tenant, id);",
    /* 2: the public IP pool (ranges as added), allocations (one row per
     * assigned address only) and public IP rules */
    "CREATE TABLE pool_ranges ("
    " id INTEGER PRIMARY KEY,"
    " family INTEGER NOT NULL,"
    " first BLOB NOT NULL,"
    " last BLOB NOT NULL,"
    " added_at INTEGER NOT NULL);"
    "CREATE INDEX pool_ranges_first ON pool_ranges(family, first);"
    "CREATE TABLE allocations ("
    " family INTEGER NOT NULL,"
    " addr BLOB NOT NULL,"
    " tenant TEXT NOT NULL,"
    " allocated_at INTEGER NOT NULL,"
    " PRIMARY KEY (family, addr));"
    "CREATE INDEX allocations_tenant ON allocations(tenant, family, addr);"
    "CREATE TABLE rules ("
    " id INTEGER PRIMARY KEY,"
    " tenant TEXT NOT NULL,"
    " family INTEGER NOT NULL,"
    " public_addr BLOB NOT NULL,"
    " public_port INTEGER NOT NULL,"
    " proto TEXT NOT NULL,"
    " replica_addr BLOB NOT NULL,"
    " replica_port INTEGER NOT NULL,"
    " description TEXT,"
    " UNIQUE (family, public_addr, public_port, proto));",
    /* 3: base image volumes neaprov uploaded ("uploading" until complete) */
    "CREATE TABLE base_images ("
    " host TEXT NOT NULL,"
    " pool TEXT NOT NULL,"
    " volume TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " PRIMARY KEY (host, pool, volume));",
    /* 4: a disk volume is the appliance's only once neaprov created it: the
     * backing store it was created on is recorded with it and checked before
     * the disk is used or deleted.  Two appliances on one host never share a
     * MAC: a trigger refuses the write (existing rows are left as they are,
     * so that an old database still opens; the engine names the conflict).
     * MACs are stored in lower case, so that the index serves the checks. */
    "ALTER TABLE deployments ADD COLUMN disk_backing TEXT;"
    "UPDATE deployments SET mac = lower(mac);"
    "CREATE INDEX deployments_mac ON deployments(host, mac);"
    "CREATE INDEX deployments_disk ON deployments(host, pool, disk_volume);"
    "CREATE TRIGGER deployments_mac_insert BEFORE INSERT ON deployments"
    " WHEN NEW.state NOT IN ('gone', 'destroying') AND EXISTS ("
    "  SELECT 1 FROM deployments d WHERE d.host = NEW.host"
    "  AND d.mac = NEW.mac AND d.tenant != NEW.tenant"
    "  AND d.state != 'gone')"
    " BEGIN SELECT RAISE(ABORT, 'MAC address in use by another appliance on this host');"
    " END;"
    "CREATE TRIGGER deployments_mac_update BEFORE UPDATE OF host, mac, state ON deployments"
    " WHEN NEW.state NOT IN ('gone', 'destroying') AND EXISTS ("
    "  SELECT 1 FROM deployments d WHERE d.host = NEW.host"
    "  AND d.mac = NEW.mac AND d.tenant != NEW.tenant"
    "  AND d.state != 'gone')"
    " BEGIN SELECT RAISE(ABORT, 'MAC address in use by another appliance on this host');"
    " END;",
    /* 5: tenant networks: each network's vNIC slot in its appliance, and in
     * ovs-vlan mode its VLAN tag on a host's switch (never two networks on
     * one tag).  A VLAN row goes only once no vNIC of the network is on the
     * tag any more (after the unplug, or the domain's undefine). */
    "CREATE TABLE tnet_slots ("
    " tenant TEXT NOT NULL,"
    " network TEXT NOT NULL,"
    " slot INTEGER NOT NULL,"
    " PRIMARY KEY (tenant, network),"
    " UNIQUE (tenant, slot));"
    "CREATE TABLE tnet_vlans ("
    " host TEXT NOT NULL,"
    " switch TEXT NOT NULL,"
    " vlan INTEGER NOT NULL,"
    " tenant TEXT NOT NULL,"
    " network TEXT NOT NULL,"
    " PRIMARY KEY (host, switch, vlan),"
    " UNIQUE (host, switch, tenant, network));"
    "CREATE INDEX tnet_vlans_tenant ON tnet_vlans(tenant);",
};

NEA_ENUM_IMPL(nea_dep_state, NEA_DEP_LAST, "pending", "provisioning", "running", "failed",
              "destroying", "gone")

int nea_db_err(struct nea_state *st, struct nea_err *err, const char *what)
{
    return nea_err_set(err, NEA_ERR_STATE, "%s: %s: %s", st->path, what,
                       sqlite3_errmsg(st->db));
}

int nea_db_step(struct nea_state *st, sqlite3_stmt *s, const char *what,
                struct nea_err *err)
{
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        return 1;
    if (r == SQLITE_DONE)
        return 0;
    return nea_db_err(st, err, what);
}

int nea_db_exec(struct nea_state *st, const char *sql, struct nea_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = nea_err_set(err, NEA_ERR_STATE, "%s: %s", st->path,
                             msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return rc;
    }
    return NEA_OK;
}

static int schema_version(struct nea_state *st, int *ret_version, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot read the schema version");
    int r = nea_db_step(st, s, "cannot read the schema version", err);
    if (r < 0)
        return r;
    *ret_version = r ? sqlite3_column_int(s, 0) : 0;
    return NEA_OK;
}

/* Each migration reads the version inside its own IMMEDIATE transaction, so
 * processes opening a new database at once do not both run it. */
static int migrate(struct nea_state *st, struct nea_err *err)
{
    for (;;) {
        int rc = nea_db_exec(st, "BEGIN IMMEDIATE", err);
        if (rc < 0)
            return rc;
        int version = 0;
        rc = schema_version(st, &version, err);
        if (rc == NEA_OK && version > (int)NEA_ARRAY_SIZE(migrations))
            rc = nea_err_set(err, NEA_ERR_STATE, "%s: schema version %d is newer than "
                             "this neaprov understands (%zu); upgrade neaprov",
                             st->path, version, NEA_ARRAY_SIZE(migrations));
        if (rc == NEA_OK && version == (int)NEA_ARRAY_SIZE(migrations))
            return nea_db_exec(st, "COMMIT", err);
        if (rc == NEA_OK) {
            NEA_AUTOFREE char *sql = nea_xasprintf("%s PRAGMA user_version = %d;",
                                                   migrations[version], version + 1);
            char *msg = NULL;
            if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK)
                rc = nea_err_set(err, NEA_ERR_STATE, "%s: cannot upgrade the state "
                                 "database to schema version %d: %s", st->path,
                                 version + 1, msg ? msg : sqlite3_errmsg(st->db));
            sqlite3_free(msg);
        }
        if (rc == NEA_OK)
            rc = nea_db_exec(st, "COMMIT", err);
        if (rc < 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
}

/* The database and SQLite's companions of it (the write-ahead log, its
 * index, a rollback journal), as SQLite accepted them: made private.  Only
 * O_PATH descriptors: closing a real one would drop every POSIX lock that
 * this process's SQLite connections hold on the file, and another process
 * would then take itself for the only one and truncate the -shm under their
 * mapping (SIGBUS). */
static int private_files(struct nea_state *st, struct nea_err *err)
{
    /* where SQLite put them: beside the database a symbolic link names */
    const char *db = sqlite3_db_filename(st->db, "main");
    if (!db || !*db)
        db = st->path;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(suffixes); i++) {
        NEA_AUTOFREE char *p = nea_xasprintf("%s%s", db, suffixes[i]);
        int fd = open(p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue; /* none: nothing to tighten */
        int rc = nea_make_private(fd, p, i ? "state database's companion file"
                                            : "state database", err);
        close(fd);
        if (rc < 0)
            return rc;
    }
    return NEA_OK;
}

int nea_state_open(const char *path, struct nea_state **ret_state, struct nea_err *err)
{
    /* Create the file 0600 ourselves: SQLite would honour the umask.  An
     * existing one is not opened here (see private_files); when it is ours
     * and looser (an empty file someone made, a database made readable), it
     * is made private once SQLite has accepted it; a file that is not a
     * database is left as it is (SQLite refuses it). */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    else if (errno != EEXIST)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot open the state database: %s",
                           path, strerror(errno));
    struct nea_state *st = nea_xcalloc(1, sizeof(*st));
    st->path = nea_xstrdup(path);
    st->now = default_now;
    int rc;
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = nea_db_err(st, err, "cannot open the state database");
        nea_state_close(st);
        return rc;
    }
    sqlite3_busy_timeout(st->db, 10000);
    rc = nea_db_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "PRAGMA foreign_keys=ON;", err);
    if (rc == NEA_OK)
        rc = migrate(st, err);
    if (rc == NEA_OK)
        rc = private_files(st, err);
    if (rc < 0) {
        nea_state_close(st);
        return rc;
    }
    *ret_state = st;
    return NEA_OK;
}

void nea_state_close(struct nea_state *st)
{
    if (!st)
        return;
    if (st->db)
        sqlite3_close(st->db);
    free(st->path);
    free(st);
}

void nea_state_set_hook(struct nea_state *st, nea_state_hook_fn fn, void *data)
{
    st->hook = fn;
    st->hook_data = data;
}

void nea_state_set_clock(struct nea_state *st, int64_t (*now)(void))
{
    st->now = now ? now : default_now;
}

static char *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? nea_xstrdup((const char *)t) : NULL;
}

#define DEP_COLUMNS                                                            \
    "tenant, name, plan, host, pool, state, step, spec_hash, spec, mac, uuid, " \
    "instance_id, disk_volume, seed_volume, last_error, created_at, updated_at, " \
    "disk_backing"

static struct nea_deployment *row_to_dep(sqlite3_stmt *s)
{
    struct nea_deployment *d = nea_xcalloc(1, sizeof(*d));
    d->tenant = col_str(s, 0);
    d->name = col_str(s, 1);
    d->plan = col_str(s, 2);
    d->host = col_str(s, 3);
    d->pool = col_str(s, 4);
    NEA_AUTOFREE char *state = col_str(s, 5);
    int known = nea_dep_state_parse(state);
    d->state = known < 0 ? NEA_DEP_FAILED : (enum nea_dep_state)known;
    d->step = col_str(s, 6);
    d->spec_hash = col_str(s, 7);
    d->spec = col_str(s, 8);
    d->mac = col_str(s, 9);
    d->uuid = col_str(s, 10);
    d->instance_id = col_str(s, 11);
    d->disk_volume = col_str(s, 12);
    d->seed_volume = col_str(s, 13);
    d->last_error = col_str(s, 14);
    d->created_at = sqlite3_column_int64(s, 15);
    d->updated_at = sqlite3_column_int64(s, 16);
    d->disk_backing = col_str(s, 17);
    return d;
}

/* The first row of a deployments query with up to three text parameters
 * (NULL ends them), or *ret_dep NULL. */
static int get_where(struct nea_state *st, const char *sql, const char *a, const char *b,
                     const char *c, struct nea_deployment **ret_dep, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot query deployments");
    const char *params[] = {a, b, c};
    for (int i = 0; i < 3 && params[i]; i++)
        sqlite3_bind_text(s, i + 1, params[i], -1, SQLITE_TRANSIENT);
    int r = nea_db_step(st, s, "cannot query deployments", err);
    if (r < 0)
        return r;
    *ret_dep = r ? row_to_dep(s) : NULL;
    return NEA_OK;
}

int nea_state_get(struct nea_state *st, const char *tenant,
                  struct nea_deployment **ret_dep, struct nea_err *err)
{
    return get_where(st, "SELECT " DEP_COLUMNS " FROM deployments WHERE tenant = ?1",
                     tenant, NULL, NULL, ret_dep, err);
}

int nea_state_find(struct nea_state *st, const char *tenant_or_name,
                   struct nea_deployment **ret_dep, struct nea_err *err)
{
    struct nea_deployment *d = NULL;
    int rc = nea_state_get(st, tenant_or_name, &d, err);
    if (rc == NEA_OK && !d)
        rc = get_where(st, "SELECT " DEP_COLUMNS " FROM deployments WHERE name = ?1 "
                           "ORDER BY state = 'gone', updated_at DESC LIMIT 1",
                       tenant_or_name, NULL, NULL, &d, err);
    if (rc == NEA_OK)
        *ret_dep = d;
    return rc;
}

int nea_state_mac_user(struct nea_state *st, const char *host, const char *mac,
                       const char *tenant, struct nea_deployment **ret_dep,
                       struct nea_err *err)
{
    return get_where(st, "SELECT " DEP_COLUMNS " FROM deployments WHERE host = ?1 AND "
                         "mac = lower(?2) AND tenant != ?3 AND state != 'gone' "
                         "ORDER BY tenant LIMIT 1", host, mac, tenant, ret_dep, err);
}

int nea_state_disk_named(struct nea_state *st, const char *host, const char *pool,
                         const char *volume, const char *tenant, bool *ret_named,
                         struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM deployments WHERE host = ?1 AND "
                                   "pool = ?2 AND disk_volume = ?3 AND tenant != ?4",
                           -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot query deployments");
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, pool, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, volume, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, tenant, -1, SQLITE_TRANSIENT);
    int r = nea_db_step(st, s, "cannot query deployments", err);
    if (r < 0)
        return r;
    *ret_named = r == 1;
    return NEA_OK;
}

int nea_state_list(struct nea_state *st, struct nea_deployment ***ret_deps,
                   size_t *ret_n, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT " DEP_COLUMNS " FROM deployments "
                                   "ORDER BY tenant", -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot list deployments");
    struct nea_deployment **v = NULL;
    size_t len = 0;
    int r;
    while ((r = nea_db_step(st, s, "cannot list deployments", err)) == 1) {
        v = nea_xrealloc(v, (len + 1) * sizeof(*v));
        v[len++] = row_to_dep(s);
    }
    if (r < 0) {
        nea_deployments_free(v, len);
        return r;
    }
    *ret_deps = v;
    *ret_n = len;
    return NEA_OK;
}

static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, i);
}

int nea_state_put(struct nea_state *st, struct nea_deployment *d, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    static const char sql[] =
        "INSERT INTO deployments (" DEP_COLUMNS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) "
        "ON CONFLICT(tenant) DO UPDATE SET name=?2, plan=?3, host=?4, pool=?5, "
        "state=?6, step=?7, spec_hash=?8, spec=?9, mac=?10, uuid=?11, "
        "instance_id=?12, disk_volume=?13, seed_volume=?14, last_error=?15, "
        "updated_at=?17, disk_backing=?18";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot record the deployment");
    int64_t now = st->now();
    if (!d->created_at)
        d->created_at = now;
    d->updated_at = now;
    bind_opt(s, 1, d->tenant);
    bind_opt(s, 2, d->name);
    bind_opt(s, 3, d->plan);
    bind_opt(s, 4, d->host);
    bind_opt(s, 5, d->pool);
    bind_opt(s, 6, nea_dep_state_name(d->state));
    bind_opt(s, 7, d->step);
    bind_opt(s, 8, d->spec_hash);
    bind_opt(s, 9, d->spec);
    NEA_AUTOFREE char *mac = d->mac ? nea_xstrdup(d->mac) : NULL;
    for (char *p = mac; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    bind_opt(s, 10, mac);
    bind_opt(s, 11, d->uuid);
    bind_opt(s, 12, d->instance_id);
    bind_opt(s, 13, d->disk_volume);
    bind_opt(s, 14, d->seed_volume);
    bind_opt(s, 15, d->last_error);
    sqlite3_bind_int64(s, 16, d->created_at);
    sqlite3_bind_int64(s, 17, d->updated_at);
    bind_opt(s, 18, d->disk_backing);
    int r = sqlite3_step(s);
    if (r == SQLITE_CONSTRAINT)
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: cannot record the deployment of "
                           "tenant %s: %s", st->path, d->tenant, sqlite3_errmsg(st->db));
    if (r != SQLITE_DONE)
        return nea_db_err(st, err, "cannot record the deployment");
    if (st->hook) {
        NEA_AUTOFREE char *what =
            d->step ? nea_xasprintf("%s: step %s", nea_dep_state_name(d->state), d->step)
                    : nea_xstrdup(nea_dep_state_name(d->state));
        st->hook(st->hook_data, d->tenant, "state", what);
    }
    return NEA_OK;
}

int nea_state_event(struct nea_state *st, const char *tenant, const char *kind,
                    const char *detail, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO events (at, tenant, kind, detail) "
                                   "VALUES (?1, ?2, ?3, ?4)", -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot record an event");
    sqlite3_bind_int64(s, 1, st->now());
    bind_opt(s, 2, tenant);
    bind_opt(s, 3, kind);
    bind_opt(s, 4, detail);
    if (sqlite3_step(s) != SQLITE_DONE)
        return nea_db_err(st, err, "cannot record an event");
    if (st->hook)
        st->hook(st->hook_data, tenant, kind, detail);
    return NEA_OK;
}

int nea_state_events(struct nea_state *st, const char *tenant, size_t limit,
                     struct nea_event **ret_events, size_t *ret_n, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT id, at, tenant, kind, detail FROM ("
                                   " SELECT * FROM events WHERE tenant = ?1"
                                   " ORDER BY id DESC LIMIT ?2) ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot read events");
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
    struct nea_event *v = NULL;
    size_t len = 0;
    int r;
    while ((r = nea_db_step(st, s, "cannot read events", err)) == 1) {
        v = nea_xrealloc(v, (len + 1) * sizeof(*v));
        v[len++] = (struct nea_event){
            .id = sqlite3_column_int64(s, 0),
            .at = sqlite3_column_int64(s, 1),
            .tenant = col_str(s, 2),
            .kind = col_str(s, 3),
            .detail = col_str(s, 4),
        };
    }
    if (r < 0) {
        nea_events_free(v, len);
        return r;
    }
    *ret_events = v;
    *ret_n = len;
    return NEA_OK;
}

/* ---- locks -------------------------------------------------------------- */

static const char *const lock_prefixes[] = {
    [NEA_LOCK_TENANT] = ".lock-",
    [NEA_LOCK_UPLOAD] = ".lock.upload-",
};

static bool lock_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len < 1 || len > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

/* What nea_lock_at waited for: lock_busy words it when another holds it. */
struct lock_want {
    enum nea_lock_kind kind;
    const char *name, *path;
    unsigned timeout_s;
};

/* The sentence for a lock held past the wait: it names the holder, and the
 * timeout as "the lock timeout" (each caller knows its own name for it). */
static int lock_busy(void *data, const char *holder, struct nea_err *err)
{
    const struct lock_want *w = data;
    if (w->kind == NEA_LOCK_TENANT && w->timeout_s == 0)
        return nea_err_set(err, NEA_ERR_BUSY, "busy: another neaprov (%s) is changing "
                           "the appliance of tenant %s (lock %s); try again when it "
                           "has finished", holder, w->name, w->path);
    if (w->kind == NEA_LOCK_TENANT)
        return nea_err_set(err, NEA_ERR_BUSY, "busy: waited %u s (the lock timeout) for "
                           "the lock of tenant %s (%s), held by another process (%s); "
                           "try again when it has finished", w->timeout_s, w->name,
                           w->path, holder);
    if (w->timeout_s == 0)
        return nea_err_set(err, NEA_ERR_BUSY, "busy: another process (%s) holds the base "
                           "image upload lock of this host and pool (%s); try again when "
                           "it has finished", holder, w->path);
    return nea_err_set(err, NEA_ERR_BUSY, "busy: waited %u s (the lock timeout) for the "
                       "base image upload lock of this host and pool (%s), held by "
                       "another process (%s); try again when it has finished, or give "
                       "a longer lock timeout", w->timeout_s, w->path, holder);
}

int nea_state_lock(struct nea_state *st, enum nea_lock_kind kind, const char *name,
                   unsigned timeout_s, int *ret_fd, struct nea_err *err)
{
    return nea_lock_at(st->path, kind, name, timeout_s, ret_fd, err);
}

int nea_lock_at(const char *base, enum nea_lock_kind kind, const char *name,
                unsigned timeout_s, int *ret_fd, struct nea_err *err)
{
    if ((size_t)kind >= NEA_ARRAY_SIZE(lock_prefixes))
        return nea_err_set(err, NEA_ERR_INTERNAL, "unknown kind of lock %d", (int)kind);
    if (!name || !lock_name_ok(name))
        return nea_err_set(err, NEA_ERR_INVALID, "\"%s\" cannot name a lock: a lock's "
                           "name is 1-64 lower-case letters, digits and '-'",
                           name ? name : "");
    NEA_AUTOFREE char *path = nea_xasprintf("%s%s%s", base, lock_prefixes[kind], name);
    /* a bounded wait: never NEA_LOCK_WAIT_FOREVER from a caller's number */
    if (timeout_s == NEA_LOCK_WAIT_FOREVER)
        timeout_s--;
    struct lock_want w = {kind, name, path, timeout_s};
    return nea_lock_take(path, timeout_s, lock_busy, &w, ret_fd, err);
}

int nea_state_base_image(struct nea_state *st, const char *host, const char *pool,
                         const char *volume, char **ret_state, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT state FROM base_images WHERE host = ?1 AND "
                                   "pool = ?2 AND volume = ?3", -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot read base images");
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, pool, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, volume, -1, SQLITE_TRANSIENT);
    /* an error is not "not recorded": that would make a volume cut by a
     * crash look like the SP's own, complete one */
    int r = nea_db_step(st, s, "cannot read base images", err);
    if (r < 0)
        return r;
    *ret_state = r ? col_str(s, 0) : NULL;
    return NEA_OK;
}

int nea_state_set_base_image(struct nea_state *st, const char *host, const char *pool,
                             const char *volume, const char *state, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "INSERT INTO base_images (host, pool, volume, state, "
                                   "updated_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT "
                                   "DO UPDATE SET state = ?4, updated_at = ?5",
                           -1, &s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot record a base image");
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, pool, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, volume, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, st->now());
    if (sqlite3_step(s) != SQLITE_DONE)
        return nea_db_err(st, err, "cannot record a base image");
    return NEA_OK;
}

void nea_state_unlock(int fd)
{
    nea_unlock(fd);
}

static char *dup_opt(const char *s)
{
    return s ? nea_xstrdup(s) : NULL;
}

struct nea_deployment *nea_deployment_dup(const struct nea_deployment *d)
{
    struct nea_deployment *c = nea_xcalloc(1, sizeof(*c));
    *c = *d;
    c->tenant = dup_opt(d->tenant);
    c->name = dup_opt(d->name);
    c->plan = dup_opt(d->plan);
    c->host = dup_opt(d->host);
    c->pool = dup_opt(d->pool);
    c->step = dup_opt(d->step);
    c->spec_hash = dup_opt(d->spec_hash);
    c->spec = dup_opt(d->spec);
    c->mac = dup_opt(d->mac);
    c->uuid = dup_opt(d->uuid);
    c->instance_id = dup_opt(d->instance_id);
    c->disk_volume = dup_opt(d->disk_volume);
    c->disk_backing = dup_opt(d->disk_backing);
    c->seed_volume = dup_opt(d->seed_volume);
    c->last_error = dup_opt(d->last_error);
    return c;
}

void nea_deployment_free(struct nea_deployment *d)
{
    if (!d)
        return;
    free(d->tenant);
    free(d->name);
    free(d->plan);
    free(d->host);
    free(d->pool);
    free(d->step);
    free(d->spec_hash);
    free(d->spec);
    free(d->mac);
    free(d->uuid);
    free(d->instance_id);
    free(d->disk_volume);
    free(d->disk_backing);
    free(d->seed_volume);
    free(d->last_error);
    free(d);
}

void nea_deployments_free(struct nea_deployment **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        nea_deployment_free(v[i]);
    free(v);
}

void nea_events_free(struct nea_event *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].tenant);
        free(v[i].kind);
        free(v[i].detail);
    }
    free(v);
}
