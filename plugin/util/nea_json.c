/*
 * nea_json.c: see nea_json.h.
 */
#include "nea_json.h"

#include <inttypes.h>

void nea_json_begin(struct nea_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->need_comma[0] = false;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void lead(struct nea_json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->f);
    j->need_comma[j->depth] = true;
    if (key) {
        put_string(j->f, key);
        fputc(':', j->f);
    }
}

static void open_(struct nea_json *j, const char *key, char c)
{
    lead(j, key);
    fputc(c, j->f);
    if (j->depth < 31)
        j->depth++;
    j->need_comma[j->depth] = false;
}

static void close_(struct nea_json *j, char c)
{
    fputc(c, j->f);
    if (j->depth > 0)
        j->depth--;
}
/* open_ stops counting at 31 levels; our output is at most 4 deep */

void nea_json_obj(struct nea_json *j, const char *key) { open_(j, key, '{'); }
void nea_json_obj_end(struct nea_json *j) { close_(j, '}'); }
void nea_json_arr(struct nea_json *j, const char *key) { open_(j, key, '['); }
void nea_json_arr_end(struct nea_json *j) { close_(j, ']'); }

void nea_json_str(struct nea_json *j, const char *key, const char *v)
{
    lead(j, key);
    if (v)
        put_string(j->f, v);
    else
        fputs("null", j->f);
}

void nea_json_int(struct nea_json *j, const char *key, int64_t v)
{
    lead(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void nea_json_bool(struct nea_json *j, const char *key, bool v)
{
    lead(j, key);
    fputs(v ? "true" : "false", j->f);
}

void nea_json_end(struct nea_json *j)
{
    fputc('\n', j->f);
    fflush(j->f);
}
