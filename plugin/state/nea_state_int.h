/*
 * nea_state_int.h: what the state layer's files share (not for other
 * layers).
 */
#ifndef NEA_STATE_INT_H
#define NEA_STATE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "nea_state.h"
#include "nea_util.h"

struct nea_state {
    sqlite3 *db;
    char *path;
    int64_t (*now)(void);
    nea_state_hook_fn hook;     /* told of every record and event written */
    void *hook_data;
};

int nea_db_err(struct nea_state *st, struct nea_err *err, const char *what);
int nea_db_exec(struct nea_state *st, const char *sql, struct nea_err *err);
/* One sqlite3_step of s: 1 a row, 0 done, or NEA_ERR_STATE with "PATH: what:
 * SQLite's message" (a busy database, an I/O error, an interrupt: never
 * taken for "no more rows"). */
int nea_db_step(struct nea_state *st, sqlite3_stmt *s, const char *what,
                struct nea_err *err);
NEA_DEFINE_CLEANUP_NAMED(nea_stmt_finalizep, sqlite3_stmt *, sqlite3_finalize)

#endif
