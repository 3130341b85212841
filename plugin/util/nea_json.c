/*
 * nea_json.c: see nea_json.h.
 */
#include "nea_json.h"

#include <inttypes.h>
#include <string.h>

#include "nea_util.h"

void nea_json_begin(struct nea_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->need_comma[0] = false;
}

/* The UTF-8 sequence at p: its length (1-4) and code point, or 0 when p
 * does not start a valid shortest-form sequence (a NUL ends it too). */
static size_t utf8_seq(const unsigned char *p, uint32_t *ret_cp)
{
    if (p[0] < 0x80) {
        *ret_cp = p[0];
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if ((p[0] & 0xe0) == 0xc0)
        n = 2, c = p[0] & 0x1fu, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, c = p[0] & 0x0fu, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        n = 4, c = p[0] & 0x07u, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *ret_cp = c;
    return n;
}

/* What a terminal or a log viewer would act on rather than show: C0, DEL,
 * C1, the line and paragraph separators and the bidirectional overrides. */
static bool is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/* Writes s escaped: for JSON (quotes escaped, \uXXXX, bytes that are not
 * UTF-8 as U+FFFD) or for a terminal (\xNN for ASCII controls and for bytes
 * that are not UTF-8, \uXXXX for the others).  Both escape backslash,
 * newline, CR, tab and every control or bidi override (is_control). */
static void put_escaped(FILE *f, const char *s, bool json)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t c;
        size_t n = utf8_seq(p, &c);
        if (n == 0) {
            if (json)
                fputs("\\ufffd", f);
            else
                fprintf(f, "\\x%02x", *p);
            p++;
            continue;
        }
        if (c == '"' && json)
            fputs("\\\"", f);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (is_control(c) && c < 0x80 && !json)
            fprintf(f, "\\x%02x", (unsigned)c);
        else if (is_control(c))
            fprintf(f, "\\u%04x", (unsigned)c);
        else
            fwrite(p, 1, n, f);
        p += n;
    }
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    put_escaped(f, s, true);
    fputc('"', f);
}

char *nea_text_escape(const char *s)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        abort();
    put_escaped(f, s, false);
    if (fclose(f) != 0)
        abort();
    return out;
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
