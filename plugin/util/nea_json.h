/*
 * nea_json.h: a minimal JSON writer for the CLI's --json output.
 *
 * Only writes (never parses), escapes every string per RFC 8259 (and every
 * control character, C0, DEL and C1, as \uXXXX; bytes that are not UTF-8
 * become U+FFFD), and tracks commas itself.  No JSON library is among the project's dependencies and
 * output of flat records does not justify adding one.
 */
#ifndef NEA_JSON_H
#define NEA_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct nea_json {
    FILE *f;
    int depth;
    bool need_comma[32];
};

void nea_json_begin(struct nea_json *j, FILE *f);
void nea_json_obj(struct nea_json *j, const char *key);   /* key NULL in arrays */
void nea_json_obj_end(struct nea_json *j);
void nea_json_arr(struct nea_json *j, const char *key);
void nea_json_arr_end(struct nea_json *j);
void nea_json_str(struct nea_json *j, const char *key, const char *v); /* NULL -> null */
void nea_json_int(struct nea_json *j, const char *key, int64_t v);
void nea_json_bool(struct nea_json *j, const char *key, bool v);
void nea_json_end(struct nea_json *j);

/* s as text output may show it: control characters (C0, DEL, C1, U+2028,
 * U+2029, bidirectional overrides) and bytes that are not UTF-8 as visible
 * escapes (\n, \t, \r, \xNN, \uNNNN), a backslash as \\.  For recorded
 * strings (the state database) and input echoed in messages.  Newly
 * allocated. */
char *nea_text_escape(const char *s);

#endif
