/* The state database: creation mode, migrations, round trips, events, lock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nea_state.h"
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
    assert_int_equal(nea_state_lock(st, "acme", &fd1, &err), NEA_OK);
    assert_int_equal(nea_state_lock(st, "acme", &fd2, &err), NEA_ERR_BUSY);
    assert_non_null(strstr(err.msg, "busy"));
    nea_err_clear(&err);
    assert_int_equal(nea_state_lock(st, "other", &fd2, &err), NEA_OK);
    nea_state_unlock(fd1);
    nea_state_unlock(fd2);
    assert_int_equal(nea_state_lock(st, "acme", &fd1, &err), NEA_OK);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_bad_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
