/*
 * nea_tnet_state.c: see nea_tnet_state.h.
 */
#include "nea_tnet_state.h"

#include <stdio.h>
#include <string.h>

#include "nea_state_int.h"
#include "nea_util.h"

static int prep(struct nea_state *st, const char *sql, sqlite3_stmt **s,
                struct nea_err *err)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
        return nea_db_err(st, err, "cannot read the tenant networks");
    return NEA_OK;
}

static int finish(struct nea_state *st, int rc, bool commit, struct nea_err *err)
{
    if (rc == NEA_OK && commit)
        return nea_db_exec(st, "COMMIT", err);
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static bool in_list(const char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], name))
            return true;
    return false;
}

/* The tenant's slots: used[slot] for every row (also of networks about to
 * go: their vNIC is still plugged), and the slot of each of names. */
static int read_slots(struct nea_state *st, const char *tenant, const char *const *names,
                      size_t n, bool *used, unsigned max_used, unsigned *slots,
                      bool *have, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    int rc = prep(st, "SELECT network, slot FROM tnet_slots WHERE tenant = ?1", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
    int r;
    while ((r = nea_db_step(st, s, "cannot read the tenant's network slots", err)) == 1) {
        const char *net = (const char *)sqlite3_column_text(s, 0);
        int slot = sqlite3_column_int(s, 1);
        if (slot >= 0 && (unsigned)slot < max_used)
            used[slot] = true;
        for (size_t i = 0; i < n; i++)
            if (net && !strcmp(net, names[i])) {
                slots[i] = (unsigned)slot;
                have[i] = true;
            }
    }
    return r < 0 ? r : NEA_OK;
}

static int find_vlan(struct nea_state *st, const char *host, const char *sw,
                     const char *tenant, const char *net, int *ret, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    int rc = prep(st, "SELECT vlan FROM tnet_vlans WHERE host = ?1 AND switch = ?2 AND "
                  "tenant = ?3 AND network = ?4", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, sw, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, net, -1, SQLITE_TRANSIENT);
    int r = nea_db_step(st, s, "cannot read a VLAN tag", err);
    if (r < 0)
        return r;
    *ret = r ? sqlite3_column_int(s, 0) : -1;
    return NEA_OK;
}

/* The lowest tag in [first, last] on host and sw held by nobody and not in
 * taken[0..n_taken) (this run's own picks, in a dry run); -1: none. */
static int lowest_free_vlan(struct nea_state *st, const char *host, const char *sw,
                            unsigned first, unsigned last, const unsigned *taken,
                            size_t n_taken, int *ret, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    int rc = prep(st, "SELECT vlan FROM tnet_vlans WHERE host = ?1 AND switch = ?2 AND "
                  "vlan BETWEEN ?3 AND ?4 ORDER BY vlan", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, sw, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, (int)first);
    sqlite3_bind_int(s, 4, (int)last);
    /* walk the held tags in order: the first gap is the answer */
    unsigned cand = first;
    int r;
    bool found = false;
    for (;;) {
        bool bumped = true;
        while (bumped) {
            bumped = false;
            for (size_t i = 0; i < n_taken; i++)
                if (taken[i] == cand) {
                    cand++;
                    bumped = true;
                }
        }
        if (cand > last)
            break;
        r = nea_db_step(st, s, "cannot read the VLAN tags", err);
        if (r < 0)
            return r;
        if (r == 0) {
            found = true;
            break;
        }
        unsigned held = (unsigned)sqlite3_column_int(s, 0);
        if (held > cand) {
            found = true;
            break;
        }
        if (held == cand)
            cand++;
    }
    *ret = found && cand <= last ? (int)cand : -1;
    return NEA_OK;
}

int nea_tnet_assign(struct nea_state *st, const char *tenant, const char *const *names,
                    size_t n, unsigned max_slots, const char *host, const char *sw,
                    unsigned vlan_first, unsigned vlan_last, bool dry_run,
                    unsigned *ret_slots, unsigned *ret_vlans, struct nea_err *err)
{
    if (n == 0)
        return NEA_OK;
    int rc = nea_db_exec(st, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    enum { MAXU = 64 };
    bool used[MAXU] = {0};
    NEA_AUTOFREE bool *have = nea_xcalloc(n, sizeof(*have));
    NEA_AUTOFREE unsigned *slots = nea_xcalloc(n, sizeof(*slots));
    NEA_AUTOFREE unsigned *vlans = nea_xcalloc(n, sizeof(*vlans));
    rc = read_slots(st, tenant, names, n, used, MAXU, slots, have, err);
    for (size_t i = 0; i < n && rc == NEA_OK; i++) {
        if (have[i])
            continue;
        unsigned k = 0;
        while (k < max_slots && k < MAXU && used[k])
            k++;
        if (k >= max_slots || k >= MAXU) {
            rc = nea_err_set(err, NEA_ERR_CONFLICT, "tenant %s: no free vNIC slot for "
                             "network %s: the appliance has %u (tenant-networks."
                             "max-networks), and networks being removed keep theirs until "
                             "their vNIC is unplugged", tenant, names[i], max_slots);
            break;
        }
        used[k] = true;
        slots[i] = k;
        if (dry_run)
            continue;
        NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
        rc = prep(st, "INSERT INTO tnet_slots (tenant, network, slot) VALUES (?1, ?2, ?3)",
                  &s, err);
        if (rc < 0)
            break;
        sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, names[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 3, (int)k);
        {
            int r = nea_db_step(st, s, "cannot record a network slot", err);
            if (r < 0)
                rc = r;
        }
    }
    size_t n_new = 0;
    NEA_AUTOFREE unsigned *picked = nea_xcalloc(n, sizeof(*picked));
    for (size_t i = 0; i < n && rc == NEA_OK && sw; i++) {
        int v = -1;
        rc = find_vlan(st, host, sw, tenant, names[i], &v, err);
        if (rc < 0 || v >= 0) {
            vlans[i] = (unsigned)(v < 0 ? 0 : v);
            continue;
        }
        rc = lowest_free_vlan(st, host, sw, vlan_first, vlan_last, picked, n_new, &v, err);
        if (rc < 0)
            break;
        if (v < 0) {
            rc = nea_err_set(err, NEA_ERR_CONFLICT, "tenant-networks.vlans %u-%u is "
                             "exhausted on switch %s of %s: every tag is given to a tenant "
                             "network, none is left for network %s of tenant %s",
                             vlan_first, vlan_last, sw, host, names[i], tenant);
            break;
        }
        vlans[i] = (unsigned)v;
        picked[n_new++] = (unsigned)v;
        if (dry_run)
            continue;
        NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
        rc = prep(st, "INSERT INTO tnet_vlans (host, switch, vlan, tenant, network) "
                  "VALUES (?1, ?2, ?3, ?4, ?5)", &s, err);
        if (rc < 0)
            break;
        sqlite3_bind_text(s, 1, host, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, sw, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 3, v);
        sqlite3_bind_text(s, 4, tenant, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 5, names[i], -1, SQLITE_TRANSIENT);
        {
            int r = nea_db_step(st, s, "cannot record a VLAN tag", err);
            if (r < 0)
                rc = r;
        }
    }
    rc = finish(st, rc, !dry_run, err);
    if (rc == NEA_OK) {
        memcpy(ret_slots, slots, n * sizeof(*slots));
        if (ret_vlans)
            memcpy(ret_vlans, vlans, n * sizeof(*vlans));
    }
    return rc;
}

int nea_tnet_release(struct nea_state *st, const char *tenant, const char *const *keep,
                     size_t n_keep, const char *host, const char *sw, struct nea_err *err)
{
    int rc = nea_db_exec(st, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    static const char *const reads[] = {
        "SELECT network, '', '' FROM tnet_slots WHERE tenant = ?1",
        "SELECT network, host, switch FROM tnet_vlans WHERE tenant = ?1"};
    static const char *const drops[] = {
        "DELETE FROM tnet_slots WHERE tenant = ?1 AND network = ?2",
        "DELETE FROM tnet_vlans WHERE tenant = ?1 AND network = ?2 AND host = ?3 AND "
        "switch = ?4"};
    for (int t = 0; t < 2 && rc == NEA_OK; t++) {
        /* what goes, read first: no write under an open read */
        char **gone = NULL;
        size_t n_gone = 0;
        {
            NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
            rc = prep(st, reads[t], &s, err);
            if (rc == NEA_OK)
                sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
            int r = 0;
            while (rc == NEA_OK &&
                   (r = nea_db_step(st, s, "cannot read the tenant networks", err)) == 1) {
                const char *net = (const char *)sqlite3_column_text(s, 0);
                const char *h = (const char *)sqlite3_column_text(s, 1);
                const char *w = (const char *)sqlite3_column_text(s, 2);
                bool kept = in_list(keep, n_keep, net) &&
                            (t == 0 || (sw && !strcmp(h, host) && !strcmp(w, sw)));
                if (kept)
                    continue;
                gone = nea_xrealloc(gone, (n_gone + 3) * sizeof(*gone));
                gone[n_gone++] = nea_xstrdup(net);
                gone[n_gone++] = nea_xstrdup(h);
                gone[n_gone++] = nea_xstrdup(w);
            }
            if (r < 0)
                rc = r;
        }
        for (size_t i = 0; i < n_gone; i += 3) {
            NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
            if (rc == NEA_OK)
                rc = prep(st, drops[t], &s, err);
            if (rc == NEA_OK) {
                sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(s, 2, gone[i], -1, SQLITE_TRANSIENT);
                if (t == 1) {
                    sqlite3_bind_text(s, 3, gone[i + 1], -1, SQLITE_TRANSIENT);
                    sqlite3_bind_text(s, 4, gone[i + 2], -1, SQLITE_TRANSIENT);
                }
                {
                    int r = nea_db_step(st, s, "cannot release a tenant network", err);
                    if (r < 0)
                        rc = r;
                }
            }
        }
        for (size_t i = 0; i < n_gone; i++)
            free(gone[i]);
        free(gone);
    }
    return finish(st, rc, true, err);
}

int nea_tnet_release_host(struct nea_state *st, const char *tenant, const char *host,
                          struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    int rc = prep(st, "DELETE FROM tnet_vlans WHERE tenant = ?1 AND host = ?2", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, host, -1, SQLITE_TRANSIENT);
    int r = nea_db_step(st, s, "cannot release the tenant's VLAN tags", err);
    return r < 0 ? r : NEA_OK;
}

int nea_tnet_held_names(struct nea_state *st, const char *tenant, char ***ret_names,
                        size_t *ret_n, struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    int rc = prep(st, "SELECT network FROM tnet_slots WHERE tenant = ?1 UNION "
                  "SELECT network FROM tnet_vlans WHERE tenant = ?1 ORDER BY 1", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
    char **v = NULL;
    size_t n = 0;
    int r;
    while ((r = nea_db_step(st, s, "cannot read the tenant's networks", err)) == 1) {
        const char *net = (const char *)sqlite3_column_text(s, 0);
        v = nea_xrealloc(v, (n + 1) * sizeof(*v));
        v[n++] = nea_xstrdup(net ? net : "");
    }
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return r;
    }
    *ret_names = v;
    *ret_n = n;
    return NEA_OK;
}

int nea_tnet_vlans_held(struct nea_state *st, const char *tenant, size_t *ret_n,
                        struct nea_err *err)
{
    NEA_AUTO(nea_stmt_finalizep) sqlite3_stmt *s = NULL;
    int rc = prep(st, "SELECT count(*) FROM tnet_vlans WHERE tenant = ?1", &s, err);
    if (rc < 0)
        return rc;
    sqlite3_bind_text(s, 1, tenant, -1, SQLITE_TRANSIENT);
    int r = nea_db_step(st, s, "cannot count the VLAN tags", err);
    if (r < 0)
        return r;
    *ret_n = r ? (size_t)sqlite3_column_int64(s, 0) : 0;
    return NEA_OK;
}
