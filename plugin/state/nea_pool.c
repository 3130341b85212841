/*
 * nea_pool.c: public IP pool, allocations and rules (see nea_pool.h for the
 * representation).  Bound parameters only; every change one IMMEDIATE
 * transaction, rolled back whole on any error.
 */
#include "nea_pool.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_state_int.h"
#include "nea_util.h"

static int fam_code(int family)
{
    return family == AF_INET ? 4 : 6;
}

static int fam_of(int code)
{
    return code == 4 ? AF_INET : AF_INET6;
}

static void bind_ip(sqlite3_stmt *s, int i, const struct nea_ip *ip)
{
    sqlite3_bind_blob(s, i, ip->b, 16, SQLITE_TRANSIENT);
}

/* ?1 family, ?2 first, ?3 last: the span most pool queries are about */
static void bind_span(sqlite3_stmt *s, const struct nea_ip *first,
                      const struct nea_ip *last)
{
    sqlite3_bind_int(s, 1, fam_code(first->family));
    bind_ip(s, 2, first);
    bind_ip(s, 3, last);
}

static void col_ip(sqlite3_stmt *s, int i, int family, struct nea_ip *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->family = family;
    const void *b = sqlite3_column_blob(s, i);
    if (b && sqlite3_column_bytes(s, i) == 16)
        memcpy(ret->b, b, 16);
}

static int begin(struct nea_state *st, struct nea_err *err)
{
    return nea_db_exec(st, "BEGIN IMMEDIATE", err);
}

static int finish(struct nea_state *st, int rc, bool commit, struct nea_err *err)
{
    if (rc == NEA_OK && commit)
        return nea_db_exec(st, "COMMIT", err);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int prepare(struct nea_state *st, const char *sql, sqlite3_stmt **s,
                   struct nea_err *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot query the pool");
    return NEA_OK;
}

static void fmt_range(const struct nea_ip *a, const struct nea_ip *b, char *out,
                      size_t len)
{
    char x[NEA_IP_STRLEN], y[NEA_IP_STRLEN];
    nea_ip_format(a, x);
    nea_ip_format(b, y);
    if (nea_ip_equal(a, b))
        snprintf(out, len, "%s", x);
    else
        snprintf(out, len, "%s-%s", x, y);
}

int nea_pool_add(struct nea_state *st, const struct nea_ip *first,
                 const struct nea_ip *last, struct nea_err *err)
{
    char r[2 * NEA_IP_STRLEN + 2];
    fmt_range(first, last, r, sizeof(r));
    uint64_t span = nea_ip_span(first, last);
    if (span > NEA_POOL_RANGE_MAX)
    {
        char count[32];
        if (span == UINT64_MAX)
            snprintf(count, sizeof(count), "2^64 or more");
        else
            snprintf(count, sizeof(count), "%llu", (unsigned long long)span);
        return nea_err_set(err, NEA_ERR_INVALID, "pool range %s holds %s addresses; one "
                           "addition may hold at most %d (add it in parts)", r, count,
                           NEA_POOL_RANGE_MAX);
    }
    for (const struct nea_ip *ip = first; ip; ip = ip == first ? last : NULL) {
        enum nea_ip_kind k = nea_ip_kind(ip);
        if (k != NEA_IP_UNICAST) {
            char a[NEA_IP_STRLEN];
            nea_ip_format(ip, a);
            return nea_err_set(err, NEA_ERR_INVALID, "pool range %s: %s is %s, not a "
                               "public unicast address", r, a, nea_ip_kind_name(k));
        }
    }
    int rc = begin(st, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
    rc = prepare(st, "SELECT first, last FROM pool_ranges WHERE family = ?1 AND "
                     "first <= ?3 AND last >= ?2 ORDER BY first LIMIT 1", &q, err);
    if (rc == NEA_OK) {
        bind_span(q, first, last);
        int s = nea_db_step(st, q, "cannot query the pool", err);
        if (s < 0) {
            rc = s;
        } else if (s == 1) {
            struct nea_ip a, b;
            col_ip(q, 0, first->family, &a);
            col_ip(q, 1, first->family, &b);
            char o[2 * NEA_IP_STRLEN + 2];
            fmt_range(&a, &b, o, sizeof(o));
            rc = nea_err_set(err, NEA_ERR_INVALID, "pool range %s overlaps %s, already "
                             "in the pool; nothing added", r, o);
        }
    }
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *ins = NULL;
    if (rc == NEA_OK)
        rc = prepare(st, "INSERT INTO pool_ranges (family, first, last, added_at) "
                         "VALUES (?1, ?2, ?3, ?4)", &ins, err);
    if (rc == NEA_OK) {
        bind_span(ins, first, last);
        sqlite3_bind_int64(ins, 4, st->now());
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = nea_db_err(st, err, "cannot add to the pool");
    }
    return finish(st, rc, true, err);
}

static int insert_range(struct nea_state *st, int family, const struct nea_ip *a,
                        const struct nea_ip *b, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *ins = NULL;
    int rc = prepare(st, "INSERT INTO pool_ranges (family, first, last, added_at) "
                         "VALUES (?1, ?2, ?3, ?4)", &ins, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(ins, 1, fam_code(family));
    bind_ip(ins, 2, a);
    bind_ip(ins, 3, b);
    sqlite3_bind_int64(ins, 4, st->now());
    return sqlite3_step(ins) == SQLITE_DONE ? NEA_OK
                                            : nea_db_err(st, err, "cannot change the pool");
}

int nea_pool_remove(struct nea_state *st, const struct nea_ip *first,
                    const struct nea_ip *last, bool force, char **ret_released,
                    struct nea_err *err)
{
    char r[2 * NEA_IP_STRLEN + 2];
    fmt_range(first, last, r, sizeof(r));
    int family = first->family;
    int rc = begin(st, err);
    if (rc < 0)
        return rc;
    /* assigned addresses inside the span */
    char *released = NULL;
    size_t rlen = 0;
    FILE *rf = open_memstream(&released, &rlen);
    if (!rf)
        abort();
    size_t n_assigned = 0;
    {
        NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
        rc = prepare(st, "SELECT addr, tenant FROM allocations WHERE family = ?1 AND "
                         "addr BETWEEN ?2 AND ?3 ORDER BY addr", &q, err);
        if (rc == NEA_OK) {
            bind_span(q, first, last);
            int row;
            while ((row = nea_db_step(st, q, "cannot query the pool", err)) == 1) {
                struct nea_ip a;
                char s[NEA_IP_STRLEN];
                col_ip(q, 0, family, &a);
                nea_ip_format(&a, s);
                fprintf(rf, "%s (tenant %s)\n", s, sqlite3_column_text(q, 1));
                n_assigned++;
            }
            rc = row < 0 ? row : NEA_OK;
        }
    }
    fclose(rf);
    if (rc == NEA_OK && n_assigned && !force)
        rc = nea_err_set(err, NEA_ERR_INVALID, "%zu address%s in %s %s assigned to "
                         "tenants; nothing removed (a forced removal releases them: %.*s)",
                         n_assigned, n_assigned == 1 ? "" : "es", r,
                         n_assigned == 1 ? "is" : "are",
                         (int)(strchr(released, '\n') - released), released);
    if (rc == NEA_OK && n_assigned) {
        static const char *const del[] = {
            "DELETE FROM rules WHERE family = ?1 AND public_addr BETWEEN ?2 AND ?3",
            "DELETE FROM allocations WHERE family = ?1 AND addr BETWEEN ?2 AND ?3"};
        for (size_t i = 0; rc == NEA_OK && i < 2; i++) {
            NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *d = NULL;
            rc = prepare(st, del[i], &d, err);
            if (rc == NEA_OK) {
                bind_span(d, first, last);
                if (sqlite3_step(d) != SQLITE_DONE)
                    rc = nea_db_err(st, err, "cannot release addresses");
            }
        }
    }
    /* cut the span out of every overlapping range */
    size_t touched = 0;
    if (rc == NEA_OK) {
        struct piece {
            int64_t id;
            struct nea_ip a, b;
        } *pieces = NULL;
        size_t np = 0;
        {
            NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
            rc = prepare(st, "SELECT id, first, last FROM pool_ranges WHERE family = ?1 "
                             "AND first <= ?3 AND last >= ?2", &q, err);
            if (rc == NEA_OK) {
                bind_span(q, first, last);
                int row;
                while ((row = nea_db_step(st, q, "cannot query the pool", err)) == 1) {
                    pieces = nea_xrealloc(pieces, (np + 1) * sizeof(*pieces));
                    pieces[np].id = sqlite3_column_int64(q, 0);
                    col_ip(q, 1, family, &pieces[np].a);
                    col_ip(q, 2, family, &pieces[np].b);
                    np++;
                }
                rc = row < 0 ? row : NEA_OK;
            }
        }
        for (size_t i = 0; rc == NEA_OK && i < np; i++) {
            NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *d = NULL;
            rc = prepare(st, "DELETE FROM pool_ranges WHERE id = ?1", &d, err);
            if (rc == NEA_OK) {
                sqlite3_bind_int64(d, 1, pieces[i].id);
                if (sqlite3_step(d) != SQLITE_DONE)
                    rc = nea_db_err(st, err, "cannot change the pool");
            }
            struct nea_ip lo = *first, hi = *last;
            if (rc == NEA_OK && nea_ip_cmp(&pieces[i].a, first) < 0 && nea_ip_prev(&lo))
                rc = insert_range(st, family, &pieces[i].a, &lo, err);
            if (rc == NEA_OK && nea_ip_cmp(&pieces[i].b, last) > 0 && nea_ip_next(&hi))
                rc = insert_range(st, family, &hi, &pieces[i].b, err);
            touched++;
        }
        free(pieces);
    }
    if (rc == NEA_OK && !touched)
        rc = nea_err_set(err, NEA_ERR_INVALID, "%s is not in the pool; nothing removed", r);
    rc = finish(st, rc, true, err);
    if (rc == NEA_OK && n_assigned)
        *ret_released = released;
    else
        free(released);
    if (rc == NEA_OK && !n_assigned)
        *ret_released = NULL;
    return rc;
}

int nea_pool_list(struct nea_state *st, struct nea_pool_run **ret_runs, size_t *ret_n,
                  struct nea_pool_summary *ret_sum, struct nea_err *err)
{
    struct nea_pool_summary sum = {0};
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
    int rc = prepare(st, "SELECT family, first, last FROM pool_ranges "
                         "ORDER BY family, first", &q, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *a = NULL;
    rc = prepare(st, "SELECT addr, tenant FROM allocations WHERE family = ?1 AND "
                     "addr BETWEEN ?2 AND ?3 ORDER BY addr", &a, err);
    if (rc < 0)
        return rc;
    struct nea_pool_run *v = NULL;
    size_t len = 0;
#define PUSH(F, L, T)                                                          \
    do {                                                                       \
        v = nea_xrealloc(v, (len + 1) * sizeof(*v));                           \
        v[len++] = (struct nea_pool_run){(F), (L), (T) ? nea_xstrdup(T) : NULL}; \
    } while (0)
    int r;
    while ((r = nea_db_step(st, q, "cannot list the pool", err)) == 1) {
        int family = fam_of(sqlite3_column_int(q, 0));
        struct nea_ip first, last;
        col_ip(q, 1, family, &first);
        col_ip(q, 2, family, &last);
        uint64_t total = nea_ip_span(&first, &last), assigned = 0;
        sqlite3_reset(a);
        sqlite3_bind_int(a, 1, fam_code(family));
        bind_ip(a, 2, &first);
        bind_ip(a, 3, &last);
        struct nea_ip cursor = first; /* next address not yet listed */
        bool done = false;
        while ((r = nea_db_step(st, a, "cannot list the pool", err)) == 1) {
            struct nea_ip addr;
            col_ip(a, 0, family, &addr);
            const char *tenant = (const char *)sqlite3_column_text(a, 1);
            assigned++;
            if (nea_ip_cmp(&cursor, &addr) < 0) {
                struct nea_ip before = addr;
                nea_ip_prev(&before);
                PUSH(cursor, before, (const char *)NULL);
            }
            /* extend the previous run of the same tenant if adjacent */
            if (len && v[len - 1].tenant && !strcmp(v[len - 1].tenant, tenant) &&
                nea_ip_cmp(&cursor, &addr) == 0 && nea_ip_cmp(&v[len - 1].first, &first) >= 0)
                v[len - 1].last = addr;
            else
                PUSH(addr, addr, tenant);
            cursor = addr;
            if (!nea_ip_next(&cursor) || nea_ip_cmp(&addr, &last) == 0)
                done = true;
        }
        if (r < 0)
            break;
        if (!done && nea_ip_cmp(&cursor, &last) <= 0)
            PUSH(cursor, last, (const char *)NULL);
        if (family == AF_INET) {
            sum.assigned4 += assigned;
            sum.free4 += total - assigned;
        } else {
            sum.assigned6 += assigned;
            sum.free6 += total - assigned;
        }
    }
#undef PUSH
    if (r < 0) {
        nea_pool_runs_free(v, len);
        return r;
    }
    *ret_runs = v;
    *ret_n = len;
    *ret_sum = sum;
    return NEA_OK;
}

void nea_pool_runs_free(struct nea_pool_run *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].tenant);
    free(v);
}

/* The tenant's addresses of one family, ascending. */
static int tenant_addrs(struct nea_state *st, const char *tenant, int family,
                        struct nea_ip **ret_addrs, size_t *ret_n, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
    int rc = prepare(st, "SELECT addr FROM allocations WHERE tenant = ?1 AND "
                         "family = ?2 ORDER BY addr", &q, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(q, 1, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 2, fam_code(family));
    struct nea_ip *v = NULL;
    size_t len = 0;
    int r;
    while ((r = nea_db_step(st, q, "cannot read the tenant's public addresses", err)) == 1) {
        v = nea_xrealloc(v, (len + 1) * sizeof(*v));
        col_ip(q, 0, family, &v[len++]);
    }
    if (r < 0) {
        free(v);
        return r;
    }
    *ret_addrs = v;
    *ret_n = len;
    return NEA_OK;
}

/* Takes `need` more free addresses of the family, lowest first. */
static int grow(struct nea_state *st, const char *tenant, int family, unsigned need,
                struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *ranges = NULL;
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *taken = NULL;
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *ins = NULL;
    int rc = prepare(st, "SELECT first, last FROM pool_ranges WHERE family = ?1 "
                         "ORDER BY first", &ranges, err);
    if (rc == NEA_OK)
        rc = prepare(st, "SELECT addr FROM allocations WHERE family = ?1 AND addr "
                         "BETWEEN ?2 AND ?3 ORDER BY addr", &taken, err);
    if (rc == NEA_OK)
        rc = prepare(st, "INSERT INTO allocations (family, addr, tenant, allocated_at) "
                         "VALUES (?1, ?2, ?3, ?4)", &ins, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(ranges, 1, fam_code(family));
    unsigned got = 0;
    uint64_t free_total = 0;
    /* first pass collects the candidates (statements over the same table
     * are not interleaved with inserts) */
    NEA_AUTOFREE struct nea_ip *cand = nea_xcalloc(need ? need : 1, sizeof(*cand));
    static const char what[] = "cannot find free public addresses";
    int r;
    while ((r = nea_db_step(st, ranges, what, err)) == 1) {
        struct nea_ip first, last;
        col_ip(ranges, 0, family, &first);
        col_ip(ranges, 1, family, &last);
        sqlite3_reset(taken);
        sqlite3_bind_int(taken, 1, fam_code(family));
        bind_ip(taken, 2, &first);
        bind_ip(taken, 3, &last);
        struct nea_ip cur = first;
        int t = nea_db_step(st, taken, what, err);
        bool end = false;
        struct nea_ip next_taken;
        if (t == 1)
            col_ip(taken, 0, family, &next_taken);
        uint64_t in_range = nea_ip_span(&first, &last), taken_n = 0;
        while (!end && t >= 0) {
            if (t == 1 && nea_ip_equal(&cur, &next_taken)) {
                taken_n++;
                t = nea_db_step(st, taken, what, err);
                if (t == 1)
                    col_ip(taken, 0, family, &next_taken);
            } else if (got < need) {
                cand[got++] = cur;
            } else if (t == 0) {
                break; /* enough found; the rest only counts */
            }
            if (nea_ip_equal(&cur, &last) || !nea_ip_next(&cur))
                end = true;
        }
        while (t == 1) {
            taken_n++;
            t = nea_db_step(st, taken, what, err);
        }
        if (t < 0) {
            r = t;
            break;
        }
        free_total += in_range - taken_n;
    }
    if (r < 0)
        return r;
    if (got < need)
        return nea_err_set(err, NEA_ERR_INVALID, "tenant %s needs %u more address%s but "
                           "only %llu %s free in the pool (%s); nothing was allocated or "
                           "changed", tenant, need, need == 1 ? "" : "es",
                           (unsigned long long)free_total, free_total == 1 ? "is" : "are",
                           family == AF_INET ? "IPv4" : "IPv6");
    int64_t now = st->now();
    for (unsigned i = 0; rc == NEA_OK && i < got; i++) {
        sqlite3_reset(ins);
        sqlite3_bind_int(ins, 1, fam_code(family));
        bind_ip(ins, 2, &cand[i]);
        sqlite3_bind_text(ins, 3, tenant, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 4, now);
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = nea_db_err(st, err, "cannot allocate public addresses");
    }
    return rc;
}

/* Releases the highest `extra` addresses of the family; refused where a rule
 * uses one. */
static int shrink(struct nea_state *st, const char *tenant, int family,
                  const struct nea_ip *have, size_t n, size_t extra, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *used = NULL;
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *del = NULL;
    int rc = prepare(st, "SELECT public_port, proto FROM rules WHERE family = ?1 AND "
                         "public_addr = ?2 LIMIT 1", &used, err);
    if (rc == NEA_OK)
        rc = prepare(st, "DELETE FROM allocations WHERE family = ?1 AND addr = ?2", &del,
                     err);
    for (size_t i = n - extra; rc == NEA_OK && i < n; i++) {
        sqlite3_reset(used);
        sqlite3_bind_int(used, 1, fam_code(family));
        bind_ip(used, 2, &have[i]);
        int r = nea_db_step(st, used, "cannot read the rules", err);
        if (r < 0)
            return r;
        if (r == 1) {
            char a[NEA_IP_STRLEN];
            nea_ip_format(&have[i], a);
            bool v6 = family == AF_INET6;
            return nea_err_set(err, NEA_ERR_INVALID, "shrinking tenant %s to %zu %s "
                               "address%s would release %s, which public IP rule "
                               "%s%s%s:%d/%s uses; remove the rule first", tenant,
                               n - extra, v6 ? "IPv6" : "IPv4", n - extra == 1 ? "" : "es",
                               a, v6 ? "[" : "", a, v6 ? "]" : "",
                               sqlite3_column_int(used, 0), sqlite3_column_text(used, 1));
        }
        sqlite3_reset(del);
        sqlite3_bind_int(del, 1, fam_code(family));
        bind_ip(del, 2, &have[i]);
        if (sqlite3_step(del) != SQLITE_DONE)
            rc = nea_db_err(st, err, "cannot release public addresses");
    }
    return rc;
}

int nea_pool_allocate(struct nea_state *st, const char *tenant, unsigned want4,
                      unsigned want6, bool dry_run, struct nea_ip **ret_addrs,
                      size_t *ret_n, struct nea_err *err)
{
    int rc = begin(st, err);
    if (rc < 0)
        return rc;
    const int fams[2] = {AF_INET, AF_INET6};
    const unsigned want[2] = {want4, want6};
    for (int f = 0; rc == NEA_OK && f < 2; f++) {
        struct nea_ip *have = NULL;
        size_t nh = 0;
        rc = tenant_addrs(st, tenant, fams[f], &have, &nh, err);
        if (rc == NEA_OK && nh < want[f])
            rc = grow(st, tenant, fams[f], want[f] - (unsigned)nh, err);
        else if (rc == NEA_OK && nh > want[f])
            rc = shrink(st, tenant, fams[f], have, nh, nh - want[f], err);
        free(have);
    }
    struct nea_ip *v = NULL;
    size_t len = 0;
    for (int f = 0; rc == NEA_OK && f < 2; f++) {
        struct nea_ip *part = NULL;
        size_t np = 0;
        rc = tenant_addrs(st, tenant, fams[f], &part, &np, err);
        if (rc == NEA_OK && np) {
            v = nea_xrealloc(v, (len + np) * sizeof(*v));
            memcpy(v + len, part, np * sizeof(*v));
            len += np;
        }
        free(part);
    }
    rc = finish(st, rc, !dry_run, err);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *ret_addrs = v;
    *ret_n = len;
    return NEA_OK;
}

int nea_pool_release(struct nea_state *st, const char *tenant, struct nea_err *err)
{
    int rc = begin(st, err);
    static const char *const sql[] = {"DELETE FROM rules WHERE tenant = ?1",
                                      "DELETE FROM allocations WHERE tenant = ?1"};
    for (size_t i = 0; rc == NEA_OK && i < 2; i++) {
        NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *d = NULL;
        rc = prepare(st, sql[i], &d, err);
        if (rc == NEA_OK) {
            sqlite3_bind_text(d, 1, tenant, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(d) != SQLITE_DONE)
                rc = nea_db_err(st, err, "cannot release public addresses");
        }
    }
    return finish(st, rc, true, err);
}

int nea_pool_put_deployment(struct nea_state *st, struct nea_deployment *d,
                            const struct nea_ip *addrs, size_t n, struct nea_err *err)
{
    int rc = begin(st, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
    rc = prepare(st, "SELECT tenant FROM allocations WHERE family = ?1 AND addr = ?2",
                 &q, err);
    for (size_t i = 0; rc == NEA_OK && i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int(q, 1, fam_code(addrs[i].family));
        bind_ip(q, 2, &addrs[i]);
        int r = nea_db_step(st, q, "cannot query the pool", err);
        if (r < 0) {
            rc = r;
            break;
        }
        const char *holder = r == 1 ? (const char *)sqlite3_column_text(q, 0) : NULL;
        if (!holder || strcmp(holder, d->tenant)) {
            char a[NEA_IP_STRLEN];
            nea_ip_format(&addrs[i], a);
            rc = nea_err_set(err, NEA_ERR_CONFLICT, "public address %s was taken from "
                             "tenant %s while its appliance was being changed (removed "
                             "from the pool%s); the appliance keeps its old record; apply "
                             "again to converge", a, d->tenant,
                             holder ? ", then given to another tenant" : "");
        }
    }
    if (rc == NEA_OK)
        rc = nea_state_put(st, d, err);
    return finish(st, rc, true, err);
}

/* ---- rules -------------------------------------------------------------- */


/* The syntax of docs/pool.md and nothing else: ADDRESS:PORT with an IPv4
 * address, [ADDRESS]:PORT with an IPv6 one, PORT 1-65535 in decimal (no
 * sign, space or leading zero), then "/tcp" or "/udp" for a public endpoint
 * and nothing for a replica's: a rule forwards the public protocol.  The
 * reasons name no option: the caller says which argument it was. */
const char *nea_endpoint_parse(const char *s, bool need_proto, struct nea_ip *ret_ip,
                               unsigned *ret_port, enum nea_proto *ret_proto)
{
    char buf[128];
    if (strlen(s) >= sizeof(buf))
        return "is too long";
    snprintf(buf, sizeof(buf), "%s", s);
    enum nea_proto proto = NEA_PROTO_TCP;
    struct nea_ip ip;
    char *addr = buf, *p;
    int family;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != ':')
            return "is not [IPv6-ADDRESS]:PORT";
        *close = '\0';
        addr = buf + 1;
        p = close + 2;
        family = AF_INET6;
    } else {
        char *colon = strchr(buf, ':');
        if (!colon)
            return "needs a port: ADDRESS:PORT";
        if (strchr(colon + 1, ':'))
            return "writes an IPv6 address without brackets: use [ADDRESS]:PORT";
        *colon = '\0';
        p = colon + 1;
        family = AF_INET;
    }
    if (nea_ip_parse(addr, &ip) < 0)
        return family == AF_INET ? "does not start with a valid IPv4 address (an IPv6 "
                                   "address goes in brackets: [ADDRESS]:PORT)"
                                 : "does not hold a valid IPv6 address in its brackets";
    if (ip.family != family)
        return "puts an IPv4 address in brackets: brackets are for IPv6 only";
    size_t digits = strspn(p, "0123456789");
    if (digits == 0)
        return "has no port number after the ':'";
    if (p[digits] != '\0' && p[digits] != '/')
        return "has something other than digits after the port, where only /tcp or "
               "/udp may follow (and only in a public endpoint)";
    if (p[0] == '0' && digits > 1)
        return "has a port number with a leading zero";
    unsigned long v = digits <= 5 ? strtoul(p, NULL, 10) : 0;
    if (v < 1 || v > 65535)
        return "has a port outside 1..65535";
    p += digits;
    if (*p == '\0') {
        if (need_proto)
            return "needs a protocol: ADDRESS:PORT/tcp or /udp";
    } else if (!need_proto) {
        return "takes no protocol: a rule forwards the protocol of its public endpoint "
               "(IP:PORT/tcp or /udp) to the replica's IP:PORT";
    } else if (nea_proto_parse(p + 1) >= 0) {
        proto = (enum nea_proto)nea_proto_parse(p + 1);
    } else {
        return "has a protocol other than tcp or udp (lower case)";
    }
    *ret_ip = ip;
    *ret_port = (unsigned)v;
    *ret_proto = proto;
    return NULL;
}

int nea_rule_add(struct nea_state *st, const char *tenant, const struct nea_rule *r,
                 struct nea_err *err)
{
    char pub[NEA_IP_STRLEN];
    nea_ip_format(&r->pub, pub);
    NEA_AUTOFREE char *why = nea_rule_problem(r);
    if (why)
        return nea_err_set(err, NEA_ERR_INVALID, "%s", why);
    int rc = begin(st, err);
    if (rc < 0)
        return rc;
    /* counted inside the transaction that inserts: two adds at once cannot
     * both pass at the limit */
    {
        NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
        rc = prepare(st, "SELECT count(*) FROM rules WHERE tenant = ?1", &q, err);
        if (rc == NEA_OK) {
            sqlite3_bind_text(q, 1, tenant, -1, SQLITE_TRANSIENT);
            int s = nea_db_step(st, q, "cannot count the tenant's rules", err);
            if (s <= 0) /* count(*) always has a row */
                rc = s < 0 ? s : nea_db_err(st, err, "cannot count the tenant's rules");
            else if (sqlite3_column_int64(q, 0) >= NEA_RULES_PER_TENANT_MAX)
                rc = nea_err_set(err, NEA_ERR_INVALID, "tenant %s has %lld public IP "
                                 "rules, the most a tenant may have (%d); remove one "
                                 "first; nothing was added", tenant,
                                 (long long)sqlite3_column_int64(q, 0),
                                 NEA_RULES_PER_TENANT_MAX);
        }
    }
    if (rc == NEA_OK) {
        NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
        rc = prepare(st, "SELECT tenant FROM allocations WHERE family = ?1 AND addr = ?2",
                     &q, err);
        if (rc == NEA_OK) {
            sqlite3_bind_int(q, 1, fam_code(r->pub.family));
            bind_ip(q, 2, &r->pub);
            int s = nea_db_step(st, q, "cannot query the pool", err);
            if (s < 0)
                rc = s;
            else if (s == 0)
                rc = nea_err_set(err, NEA_ERR_INVALID, "public IP %s is not allocated to "
                                 "tenant %s", pub, tenant);
            else if (strcmp((const char *)sqlite3_column_text(q, 0), tenant))
                rc = nea_err_set(err, NEA_ERR_INVALID, "public IP %s is allocated to "
                                 "another tenant, not %s", pub, tenant);
        }
    }
    if (rc == NEA_OK) {
        NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *ins = NULL;
        rc = prepare(st, "INSERT INTO rules (tenant, family, public_addr, public_port, "
                         "proto, replica_addr, replica_port, description) VALUES "
                         "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &ins, err);
        if (rc == NEA_OK) {
            sqlite3_bind_text(ins, 1, tenant, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(ins, 2, fam_code(r->pub.family));
            bind_ip(ins, 3, &r->pub);
            sqlite3_bind_int(ins, 4, (int)r->pub_port);
            sqlite3_bind_text(ins, 5, nea_proto_name(r->proto), -1, SQLITE_STATIC);
            bind_ip(ins, 6, &r->to);
            sqlite3_bind_int(ins, 7, (int)r->to_port);
            if (r->description)
                sqlite3_bind_text(ins, 8, r->description, -1, SQLITE_TRANSIENT);
            int s = sqlite3_step(ins);
            if (s == SQLITE_CONSTRAINT)
                rc = nea_err_set(err, NEA_ERR_INVALID, "a rule for %s:%u/%s exists "
                                 "already", pub, r->pub_port, nea_proto_name(r->proto));
            else if (s != SQLITE_DONE)
                rc = nea_db_err(st, err, "cannot add the rule");
        }
    }
    return finish(st, rc, true, err);
}

int nea_rule_remove(struct nea_state *st, const char *tenant, const struct nea_ip *pub,
                    unsigned port, enum nea_proto proto, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *d = NULL;
    int rc = prepare(st, "DELETE FROM rules WHERE tenant = ?1 AND family = ?2 AND "
                         "public_addr = ?3 AND public_port = ?4 AND proto = ?5", &d, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(d, 1, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(d, 2, fam_code(pub->family));
    bind_ip(d, 3, pub);
    sqlite3_bind_int(d, 4, (int)port);
    sqlite3_bind_text(d, 5, nea_proto_name(proto), -1, SQLITE_STATIC);
    if (sqlite3_step(d) != SQLITE_DONE)
        return nea_db_err(st, err, "cannot remove the rule");
    if (sqlite3_changes(st->db) == 0) {
        char a[NEA_IP_STRLEN];
        nea_ip_format(pub, a);
        return nea_err_set(err, NEA_ERR_INVALID, "tenant %s has no rule for %s:%u/%s",
                           tenant, a, port, nea_proto_name(proto));
    }
    return NEA_OK;
}

int nea_rule_list(struct nea_state *st, const char *tenant, struct nea_rule **ret_rules,
                  char ***ret_tenants, size_t *ret_n, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *q = NULL;
    int rc = prepare(st, "SELECT tenant, family, public_addr, public_port, proto, "
                         "replica_addr, replica_port, description FROM rules "
                         "WHERE ?1 IS NULL OR tenant = ?1 "
                         "ORDER BY tenant, family, public_addr, public_port, proto",
                     &q, err);
    if (rc < 0)
        return rc;
    if (tenant)
        sqlite3_bind_text(q, 1, tenant, -1, SQLITE_TRANSIENT);
    struct nea_rule *v = NULL;
    char **t = NULL;
    size_t len = 0;
    int s;
    while ((s = nea_db_step(st, q, "cannot list the rules", err)) == 1) {
        v = nea_xrealloc(v, (len + 1) * sizeof(*v));
        t = nea_xrealloc(t, (len + 1) * sizeof(*t));
        int family = fam_of(sqlite3_column_int(q, 1));
        struct nea_rule *r = &v[len];
        memset(r, 0, sizeof(*r));
        t[len] = nea_xstrdup((const char *)sqlite3_column_text(q, 0));
        col_ip(q, 2, family, &r->pub);
        r->pub_port = (unsigned)sqlite3_column_int(q, 3);
        int proto = nea_proto_parse((const char *)sqlite3_column_text(q, 4));
        /* an unknown word stays unknown: render refuses such a rule */
        r->proto = proto < 0 ? NEA_PROTO_LAST : (enum nea_proto)proto;
        col_ip(q, 5, family, &r->to);
        r->to_port = (unsigned)sqlite3_column_int(q, 6);
        const unsigned char *d = sqlite3_column_text(q, 7);
        r->description = d ? nea_xstrdup((const char *)d) : NULL;
        len++;
    }
    if (s < 0 || !ret_tenants) {
        for (size_t i = 0; i < len; i++)
            free(t[i]);
        free(t);
        t = NULL;
    }
    if (s < 0) {
        nea_rules_free(v, NULL, len);
        return s;
    }
    *ret_rules = v;
    if (ret_tenants)
        *ret_tenants = t;
    *ret_n = len;
    return NEA_OK;
}

void nea_rules_free(struct nea_rule *v, char **tenants, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].description);
        if (tenants)
            free(tenants[i]);
    }
    free(v);
    free(tenants);
}
