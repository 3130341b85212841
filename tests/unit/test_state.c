/* The state database: creation mode, migrations, round trips, events, lock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nea_pool.h"
#include "nea_sha256.h"
#include "nea_state.h"
#include "nea_state_int.h" /* st->db: to make a step fail */
#include "nea_util.h"

static int64_t fixed_now(void)
{
    return 1700000000;
}

static char *tmp_db(void)
{
    char dir[] = "/tmp/nea-state-XXXXXX";
    assert_non_null(mkdtemp(dir));
    return nea_xasprintf("%s/state.db", dir);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char *path = tmp_db();
    mode_t old = umask(0);
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600); /* never world-readable */
    nea_state_set_clock(st, fixed_now);

    struct nea_deployment d = {
        .tenant = "acme", .name = "acme-nea", .plan = "gold", .host = "test:///default",
        .pool = "default-pool", .state = NEA_DEP_PROVISIONING, .step = "define",
        .mac = "52:54:00:0a:0b:0c", .uuid = "0f8fad5b-d9cb-469f-a165-70867728950e",
        .spec = "a=1\nb=2\n", .spec_hash = "abc",
    };
    assert_int_equal(nea_state_put(st, &d, &err), NEA_OK);
    struct nea_deployment *got = NULL;
    assert_int_equal(nea_state_get(st, "acme", &got, &err), NEA_OK);
    assert_non_null(got);
    assert_string_equal(got->step, "define");
    assert_int_equal(got->state, NEA_DEP_PROVISIONING);
    assert_string_equal(got->spec, "a=1\nb=2\n");
    assert_int_equal(got->created_at, 1700000000);
    assert_null(got->last_error);
    nea_deployment_free(got);
    /* by name too; unknown gives NULL */
    assert_int_equal(nea_state_find(st, "acme-nea", &got, &err), NEA_OK);
    assert_string_equal(got->tenant, "acme");
    nea_deployment_free(got);
    assert_int_equal(nea_state_find(st, "nobody", &got, &err), NEA_OK);
    assert_null(got);
    /* a value with SQL in it is data, not SQL */
    d.last_error = "x'); DROP TABLE deployments; --";
    d.state = NEA_DEP_FAILED;
    assert_int_equal(nea_state_put(st, &d, &err), NEA_OK);
    assert_int_equal(nea_state_get(st, "acme", &got, &err), NEA_OK);
    assert_string_equal(got->last_error, d.last_error);
    nea_deployment_free(got);

    assert_int_equal(nea_state_event(st, "acme", "applied", "h1", &err), NEA_OK);
    assert_int_equal(nea_state_event(st, "acme", "failed", "boom", &err), NEA_OK);
    assert_int_equal(nea_state_event(st, "other", "applied", "h2", &err), NEA_OK);
    struct nea_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(nea_state_events(st, "acme", 10, &ev, &n, &err), NEA_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].kind, "applied");
    assert_string_equal(ev[1].detail, "boom");
    nea_events_free(ev, n);
    assert_int_equal(nea_state_events(st, "acme", 1, &ev, &n, &err), NEA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].kind, "failed"); /* the newest */
    nea_events_free(ev, n);

    /* the lock is exclusive per tenant */
    int fd1 = -1, fd2 = -1;
    assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, "acme", 0, &fd1, &err), NEA_OK);
    assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, "acme", 0, &fd2, &err),
                     NEA_ERR_BUSY);
    assert_non_null(strstr(err.msg, "busy"));
    nea_err_clear(&err);
    assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, "other", 0, &fd2, &err), NEA_OK);
    nea_state_unlock(fd1);
    nea_state_unlock(fd2);
    assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, "acme", 0, &fd1, &err), NEA_OK);
    nea_state_unlock(fd1);
    nea_state_close(st);

    /* reopening keeps everything (migrations do not run twice) */
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    struct nea_deployment **all = NULL;
    assert_int_equal(nea_state_list(st, &all, &n, &err), NEA_OK);
    assert_int_equal(n, 1);
    nea_deployments_free(all, n);
    nea_state_close(st);
    free(path);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    char *path = tmp_db();
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_ERR_STATE);
    assert_non_null(strstr(err.msg, "newer than this neaprov"));
    free(path);
}

static void test_bad_paths(void **state)
{
    (void)state;
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open("/nonexistent-dir/state.db", &st, &err), NEA_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/state.db"));
    /* a file that is not a database */
    char *path = tmp_db();
    FILE *f = fopen(path, "w");
    fputs("this is not sqlite, but it is long enough to have a header.............."
          "....................................................................", f);
    fclose(f);
    nea_err_clear(&err);
    assert_int_equal(nea_state_open(path, &st, &err), NEA_ERR_STATE);
    assert_non_null(strstr(err.msg, path));
    free(path);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The upload lock's key as the engine makes it: "pool-" and 16 hex digits
 * of sha256("URI\nPOOL"). */
static char *upload_key(const char *uri, const char *pool)
{
    uint8_t h[NEA_SHA256_LEN];
    char hex[NEA_SHA256_HEX_LEN + 1];
    char *where = nea_xasprintf("%s\n%s", uri, pool);
    nea_sha256(where, strlen(where), h);
    nea_hex(h, sizeof(h), hex);
    free(where);
    return nea_xasprintf("pool-%.16s", hex);
}

/* Tenant locks and upload locks live in namespaces of their own: a tenant
 * named like an upload key (or like an upload lock's file) never contends
 * with an upload, for any host and pool, nor the other way round. */
static void test_lock_namespaces(void **state)
{
    (void)state;
    char *path = tmp_db();
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    static const char *const uris[] = {"test:///default", "qemu:///system",
                                       "qemu+ssh://root@kvm1.example/system"};
    static const char *const pools[] = {"default", "default-pool", "images"};
    for (size_t u = 0; u < 3; u++)
        for (size_t p = 0; p < 3; p++) {
            char *key = upload_key(uris[u], pools[p]);
            char *tenants[] = {key, nea_xasprintf("upload-%s", key),
                               nea_xasprintf("lock-upload-%s", key)};
            for (size_t t = 0; t < NEA_ARRAY_SIZE(tenants); t++) {
                int tfd = -1, ufd = -1;
                assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, tenants[t], 0, &tfd,
                                                &err), NEA_OK);
                double t0 = now_s();
                assert_int_equal(nea_state_lock(st, NEA_LOCK_UPLOAD, key, 1, &ufd, &err),
                                 NEA_OK);
                assert_true(now_s() - t0 < 0.5); /* taken at once, not after a wait */
                nea_state_unlock(ufd);
                nea_state_unlock(tfd);
                /* and the other way round */
                assert_int_equal(nea_state_lock(st, NEA_LOCK_UPLOAD, key, 1, &ufd, &err),
                                 NEA_OK);
                assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, tenants[t], 0, &tfd,
                                                &err), NEA_OK);
                nea_state_unlock(tfd);
                nea_state_unlock(ufd);
            }
            /* the two files are apart: STATE.lock-NAME, STATE.lock.upload-KEY */
            char *tf = nea_xasprintf("%s.lock-%s", path, key);
            char *uf = nea_xasprintf("%s.lock.upload-%s", path, key);
            struct stat sb;
            assert_int_equal(stat(tf, &sb), 0);
            assert_int_equal(sb.st_mode & 0777, 0600);
            assert_int_equal(stat(uf, &sb), 0);
            assert_int_equal(sb.st_mode & 0777, 0600);
            free(tf);
            free(uf);
            free(tenants[1]);
            free(tenants[2]);
            free(key);
        }
    /* no name reaches another kind's files or leaves the directory */
    static const char *const bad[] = {"", ".upload-x", "a.b", "../x", "a/b", "Acme",
                                      "a b", "acme\n",
                                      "a1234567890123456789012345678901234567890123456789"
                                      "0123456789abcde"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(bad); i++) {
        int fd = -1;
        nea_err_clear(&err);
        assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, bad[i], 0, &fd, &err),
                         NEA_ERR_INVALID);
        nea_err_clear(&err);
        assert_int_equal(nea_state_lock(st, NEA_LOCK_UPLOAD, bad[i], 1, &fd, &err),
                         NEA_ERR_INVALID);
    }
    nea_state_close(st);
    free(path);
}

/* A child process takes a lock and says so on a pipe, then waits to be
 * killed; returns its pid. */
static pid_t hold_in_child(struct nea_state *st, enum nea_lock_kind kind, const char *name)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = -1;
        char ok = nea_state_lock(st, kind, name, 0, &fd, NULL) == NEA_OK ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    close(p[0]);
    assert_int_equal(ok, 'y');
    return pid;
}

static void end_child(pid_t pid)
{
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
}

/* Waiting is bounded: an upload lock held by another process fails with
 * BUSY after the timeout, naming the holder's pid and command; a tenant's
 * lock fails at once, naming it too; once the holder is gone both are
 * free. */
static void test_lock_wait_bounded(void **state)
{
    (void)state;
    char *path = tmp_db();
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    char *key = upload_key("test:///default", "default-pool");

    pid_t child = hold_in_child(st, NEA_LOCK_UPLOAD, key);
    char *who = nea_xasprintf("(pid %ld, command test_state)", (long)child);
    int fd = -1;
    double t0 = now_s();
    assert_int_equal(nea_state_lock(st, NEA_LOCK_UPLOAD, key, 1, &fd, &err), NEA_ERR_BUSY);
    double waited = now_s() - t0;
    assert_true(waited >= 0.95 && waited < 3.0);
    assert_non_null(strstr(err.msg, who));
    assert_non_null(strstr(err.msg, "waited 1 s"));
    assert_null(strstr(err.msg, "--")); /* the CLI names its --lock-timeout */
    assert_int_equal(fd, -1);
    end_child(child);
    nea_err_clear(&err);
    assert_int_equal(nea_state_lock(st, NEA_LOCK_UPLOAD, key, 1, &fd, &err), NEA_OK);
    nea_state_unlock(fd);
    free(who);

    child = hold_in_child(st, NEA_LOCK_TENANT, "acme");
    who = nea_xasprintf("(pid %ld, command test_state)", (long)child);
    nea_err_clear(&err);
    t0 = now_s();
    assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, "acme", 0, &fd, &err),
                     NEA_ERR_BUSY);
    assert_true(now_s() - t0 < 0.5);
    assert_non_null(strstr(err.msg, "busy: another neaprov"));
    assert_non_null(strstr(err.msg, who));
    assert_non_null(strstr(err.msg, "tenant acme"));
    end_child(child);
    nea_err_clear(&err);
    assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, "acme", 0, &fd, &err), NEA_OK);
    nea_state_unlock(fd);
    free(who);

    /* a holder that lets go within the timeout: the waiter gets the lock */
    pid_t brief = fork();
    assert_true(brief >= 0);
    if (brief == 0) {
        int cfd = -1;
        if (nea_state_lock(st, NEA_LOCK_UPLOAD, key, 0, &cfd, NULL) < 0)
            _exit(1);
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        _exit(0);
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    nea_err_clear(&err);
    assert_int_equal(nea_state_lock(st, NEA_LOCK_UPLOAD, key, 5, &fd, &err), NEA_OK);
    nea_state_unlock(fd);
    int status;
    waitpid(brief, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(key);
    nea_state_close(st);
    free(path);
}

/* An existing empty state file of mode 0644 (and looser companion and
 * lock files) are made 0600 by the first open. */
static void test_private_files(void **state)
{
    (void)state;
    char *path = tmp_db();
    char *wal = nea_xasprintf("%s-wal", path);
    char *journal = nea_xasprintf("%s-journal", path);
    char *lock = nea_xasprintf("%s.lock-acme", path);
    mode_t old = umask(0);
    const char *loose[] = {path, wal, journal, lock};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(loose); i++) {
        int fd = open(loose[i], O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        close(fd);
    }
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    int fd = -1;
    assert_int_equal(nea_state_lock(st, NEA_LOCK_TENANT, "acme", 0, &fd, &err), NEA_OK);
    umask(old);
    struct stat sb;
    for (size_t i = 0; i < NEA_ARRAY_SIZE(loose); i++)
        if (stat(loose[i], &sb) == 0) /* SQLite may have removed the empty journal */
            assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(stat(wal, &sb), 0);
    nea_state_unlock(fd);
    nea_state_close(st);
    /* a database made readable later is private again at the next open */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    nea_state_close(st);
    free(wal);
    free(journal);
    free(lock);
    free(path);
}

/* A failing step: while set, the statement whose SQL holds fail_sql is
 * interrupted by a progress handler in its sqlite3_step (SQLITE_INTERRUPT),
 * the way a busy or broken database fails there. */
static const char *fail_sql;

static int interrupt_step(void *data)
{
    sqlite3 *db = data;
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s; s = sqlite3_next_stmt(db, s))
        if (sqlite3_stmt_busy(s) && strstr(sqlite3_sql(s), fail_sql))
            return 1;
    return 0;
}

static void fail_step(struct nea_state *st, const char *sql)
{
    fail_sql = sql;
    sqlite3_progress_handler(st->db, sql ? 1 : 0, sql ? interrupt_step : NULL, st->db);
}

/* Every read checks its steps: a step that fails is NEA_ERR_STATE naming
 * what was read, never "no row" (a base image read as not recorded would
 * be taken for the SP's own, complete volume), and the out-parameters are
 * left alone. */
static void test_step_errors(void **state)
{
    (void)state;
    char *path = tmp_db();
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    assert_int_equal(nea_state_set_base_image(st, "test:///default", "default-pool",
                                              "nea-base-x.qcow2", "uploading", &err),
                     NEA_OK);
    struct nea_deployment d = {
        .tenant = "acme", .name = "acme-nea", .plan = "gold", .host = "test:///default",
        .pool = "default-pool", .state = NEA_DEP_RUNNING, .mac = "52:54:00:0a:0b:0c",
        .uuid = "0f8fad5b-d9cb-469f-a165-70867728950e",
    };
    assert_int_equal(nea_state_put(st, &d, &err), NEA_OK);
    struct nea_ip first, last;
    assert_null(nea_ip_range_parse("203.0.113.0/30", &first, &last));
    assert_int_equal(nea_pool_add(st, &first, &last, &err), NEA_OK);
    struct nea_ip *addrs = NULL;
    size_t n = 0;
    assert_int_equal(nea_pool_allocate(st, "acme", 1, 0, false, &addrs, &n, &err), NEA_OK);
    free(addrs);

    char sentinel[] = "untouched";
    char *got = sentinel;
    fail_step(st, "FROM base_images");
    assert_int_equal(nea_state_base_image(st, "test:///default", "default-pool",
                                          "nea-base-x.qcow2", &got, &err),
                     NEA_ERR_STATE);
    assert_ptr_equal(got, sentinel);
    assert_non_null(strstr(err.msg, "cannot read base images"));
    assert_non_null(strstr(err.msg, path));
    nea_err_clear(&err);
    fail_step(st, NULL);
    assert_int_equal(nea_state_base_image(st, "test:///default", "default-pool",
                                          "nea-base-x.qcow2", &got, &err), NEA_OK);
    assert_string_equal(got, "uploading");
    free(got);

    struct nea_deployment marker, *dep = &marker;
    fail_step(st, "FROM deployments");
    assert_int_equal(nea_state_get(st, "acme", &dep, &err), NEA_ERR_STATE);
    assert_ptr_equal(dep, &marker);
    assert_non_null(strstr(err.msg, "cannot query deployments"));
    nea_err_clear(&err);
    assert_int_equal(nea_state_find(st, "acme-nea", &dep, &err), NEA_ERR_STATE);
    assert_ptr_equal(dep, &marker);
    nea_err_clear(&err);
    bool named = true;
    assert_int_equal(nea_state_disk_named(st, "test:///default", "default-pool", "v",
                                          "other", &named, &err), NEA_ERR_STATE);
    assert_true(named);
    nea_err_clear(&err);
    struct nea_deployment **deps = (struct nea_deployment **)&marker;
    n = 99;
    assert_int_equal(nea_state_list(st, &deps, &n, &err), NEA_ERR_STATE);
    assert_ptr_equal(deps, (struct nea_deployment **)&marker);
    assert_int_equal(n, 99);
    assert_non_null(strstr(err.msg, "cannot list deployments"));
    nea_err_clear(&err);

    /* the pool: a tenant's addresses, the ranges, the rules */
    fail_step(st, "FROM allocations WHERE tenant");
    addrs = (struct nea_ip *)&marker;
    assert_int_equal(nea_pool_allocate(st, "acme", 2, 0, false, &addrs, &n, &err),
                     NEA_ERR_STATE);
    assert_ptr_equal(addrs, (struct nea_ip *)&marker);
    assert_non_null(strstr(err.msg, "cannot read the tenant's public addresses"));
    nea_err_clear(&err);
    fail_step(st, "FROM pool_ranges");
    assert_int_equal(nea_pool_allocate(st, "acme", 2, 0, false, &addrs, &n, &err),
                     NEA_ERR_STATE);
    assert_non_null(strstr(err.msg, "cannot find free public addresses"));
    nea_err_clear(&err);
    struct nea_pool_run *runs = (struct nea_pool_run *)&marker;
    struct nea_pool_summary sum = {.free4 = 7};
    assert_int_equal(nea_pool_list(st, &runs, &n, &sum, &err), NEA_ERR_STATE);
    assert_ptr_equal(runs, (struct nea_pool_run *)&marker);
    assert_int_equal(sum.free4, 7);
    nea_err_clear(&err);
    fail_step(st, "FROM rules");
    struct nea_rule *rules = (struct nea_rule *)&marker;
    assert_int_equal(nea_rule_list(st, NULL, &rules, NULL, &n, &err), NEA_ERR_STATE);
    assert_ptr_equal(rules, (struct nea_rule *)&marker);
    assert_non_null(strstr(err.msg, "cannot list the rules"));
    nea_err_clear(&err);
    /* nothing was changed by the failed allocations */
    fail_step(st, NULL);
    assert_int_equal(nea_pool_list(st, &runs, &n, &sum, &err), NEA_OK);
    assert_int_equal(sum.assigned4, 1);
    nea_pool_runs_free(runs, n);

    nea_state_close(st);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_lock_namespaces),
        cmocka_unit_test(test_lock_wait_bounded),
        cmocka_unit_test(test_private_files),
        cmocka_unit_test(test_step_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
