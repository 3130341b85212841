/*
 * nea_ytree.c: libyaml events -> struct nea_ynode tree.  Knows nothing about
 * what the document means; the loaders (nea_spec.c, nea_plan_load.c) give it
 * meaning.
 */
#include "nea_ytree.h"

#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "nea_util.h"

static struct nea_ynode *node_new(enum nea_ynode_type t, const yaml_mark_t *m)
{
    struct nea_ynode *n = nea_xcalloc(1, sizeof(*n));
    n->type = t;
    n->line = (unsigned)m->line + 1;
    n->col = (unsigned)m->column + 1;
    return n;
}

void nea_ynode_free(struct nea_ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys)
            nea_ynode_free(n->keys[i]);
        nea_ynode_free(n->items[i]);
    }
    free(n->keys);
    free(n->items);
    free(n->value);
    free(n);
}

void nea_ynode_freep(struct nea_ynode **n)
{
    nea_ynode_free(*n);
}

static void yaml_parser_freep(yaml_parser_t **p)
{
    if (*p)
        yaml_parser_delete(*p);
}

struct builder {
    const char *file;
    yaml_parser_t *parser;
    struct nea_diags *diags;
    size_t nodes;
};

static void add_child(struct nea_ynode *parent, struct nea_ynode *key,
                      struct nea_ynode *val)
{
    if (parent->n == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->items = nea_xrealloc(parent->items, parent->cap * sizeof(void *));
        if (parent->type == NEA_Y_MAP)
            parent->keys = nea_xrealloc(parent->keys, parent->cap * sizeof(void *));
    }
    if (parent->type == NEA_Y_MAP)
        parent->keys[parent->n] = key;
    parent->items[parent->n++] = val;
}

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *msg)
{
    nea_diags_add(b->diags, NEA_DIAG_ERROR, b->file, (unsigned)m->line + 1,
                  (unsigned)m->column + 1, "%s", msg);
    return NEA_ERR_INVALID;
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(b->parser, ev)) {
        yaml_parser_t *p = b->parser;
        const yaml_mark_t *m = &p->problem_mark;
        const char *problem = p->problem ? p->problem : "malformed YAML";
        if (p->context)
            nea_diags_add(b->diags, NEA_DIAG_ERROR, b->file, (unsigned)m->line + 1,
                          (unsigned)m->column + 1, "YAML syntax error: %s %s",
                          problem, p->context);
        else
            nea_diags_add(b->diags, NEA_DIAG_ERROR, b->file, (unsigned)m->line + 1,
                          (unsigned)m->column + 1, "YAML syntax error: %s", problem);
        return NEA_ERR_INVALID;
    }
    return NEA_OK;
}

static bool core_tag(const yaml_char_t *tag)
{
    if (!tag)
        return true;
    static const char *ok[] = {YAML_STR_TAG, YAML_SEQ_TAG, YAML_MAP_TAG,
                               YAML_INT_TAG, "!"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(ok); i++)
        if (!strcmp((const char *)tag, ok[i]))
            return true;
    return false;
}

/* Builds the node that starts with *ev (already read; consumed here). */
static int build(struct builder *b, yaml_event_t *ev, unsigned depth,
                 struct nea_ynode **ret)
{
    if (++b->nodes > NEA_YTREE_MAX_NODES)
        return fail_at(b, &ev->start_mark, "document has too many nodes");
    if (depth > NEA_YTREE_MAX_DEPTH)
        return fail_at(b, &ev->start_mark, "document is nested too deeply");

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return fail_at(b, &ev->start_mark,
                       "YAML aliases (*name) are not supported in neaprov files");
    case YAML_SCALAR_EVENT: {
        if (ev->data.scalar.anchor)
            return fail_at(b, &ev->start_mark,
                           "YAML anchors (&name) are not supported in neaprov files");
        if (!core_tag(ev->data.scalar.tag))
            return fail_at(b, &ev->start_mark, "YAML tags are not supported here");
        struct nea_ynode *n = node_new(NEA_Y_SCALAR, &ev->start_mark);
        n->len = ev->data.scalar.length;
        n->value = nea_xstrndup((const char *)ev->data.scalar.value, n->len);
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (strlen(n->value) != n->len) {
            nea_ynode_free(n);
            return fail_at(b, &ev->start_mark, "string contains a NUL character");
        }
        *ret = n;
        return NEA_OK;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool is_map = ev->type == YAML_MAPPING_START_EVENT;
        const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor
                                           : ev->data.sequence_start.anchor;
        const yaml_char_t *tag = is_map ? ev->data.mapping_start.tag
                                        : ev->data.sequence_start.tag;
        if (anchor)
            return fail_at(b, &ev->start_mark,
                           "YAML anchors (&name) are not supported in neaprov files");
        if (!core_tag(tag))
            return fail_at(b, &ev->start_mark, "YAML tags are not supported here");
        NEA_AUTO(nea_ynode_freep) struct nea_ynode *n =
            node_new(is_map ? NEA_Y_MAP : NEA_Y_SEQ, &ev->start_mark);
        for (;;) {
            yaml_event_t child;
            int rc = next_event(b, &child);
            if (rc < 0)
                return rc;
            if (child.type == YAML_SEQUENCE_END_EVENT ||
                child.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&child);
                break;
            }
            struct nea_ynode *key = NULL, *val = NULL;
            rc = build(b, &child, depth + 1, is_map ? &key : &val);
            yaml_event_delete(&child);
            if (rc < 0)
                return rc;
            if (is_map) {
                if (key->type != NEA_Y_SCALAR) {
                    unsigned l = key->line, c = key->col;
                    nea_ynode_free(key);
                    nea_diags_add(b->diags, NEA_DIAG_ERROR, b->file, l, c,
                                  "mapping keys must be plain strings");
                    return NEA_ERR_INVALID;
                }
                rc = next_event(b, &child);
                if (rc < 0) {
                    nea_ynode_free(key);
                    return rc;
                }
                rc = build(b, &child, depth + 1, &val);
                yaml_event_delete(&child);
                if (rc < 0) {
                    nea_ynode_free(key);
                    return rc;
                }
            }
            add_child(n, key, val);
        }
        *ret = TAKE_PTR(n);
        return NEA_OK;
    }
    default:
        return fail_at(b, &ev->start_mark, "unexpected YAML event");
    }
}

int nea_ytree_parse(const char *file, const char *buf, size_t len,
                    struct nea_ynode **ret_root, struct nea_diags *diags)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort();
    NEA_AUTO(yaml_parser_freep) __attribute__((unused)) yaml_parser_t *pp = &parser;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    struct builder b = {.file = file, .parser = &parser, .diags = diags};

    NEA_AUTO(nea_ynode_freep) struct nea_ynode *root = NULL;
    int ndocs = 0;
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(&b, &ev);
        if (rc < 0)
            return rc;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT) {
            if (++ndocs > 1) {
                rc = fail_at(&b, &ev.start_mark,
                             "the file must hold one YAML document, found a second");
                yaml_event_delete(&ev);
                return rc;
            }
        } else if (t != YAML_STREAM_START_EVENT && t != YAML_DOCUMENT_END_EVENT) {
            rc = build(&b, &ev, 0, &root);
            yaml_event_delete(&ev);
            if (rc < 0)
                return rc;
            continue;
        }
        yaml_event_delete(&ev);
    }
    if (!root) {
        yaml_mark_t m = {0};
        root = node_new(NEA_Y_MAP, &m);
    }
    *ret_root = TAKE_PTR(root);
    return NEA_OK;
}

bool nea_ynode_is_null(const struct nea_ynode *n)
{
    return n->type == NEA_Y_SCALAR && n->plain &&
           (n->len == 0 || !strcmp(n->value, "~") || !strcasecmp(n->value, "null"));
}

const char *nea_ynode_type_name(const struct nea_ynode *n)
{
    if (nea_ynode_is_null(n))
        return "null";
    switch (n->type) {
    case NEA_Y_SCALAR: return "a scalar";
    case NEA_Y_SEQ: return "a list";
    case NEA_Y_MAP: return "a mapping";
    }
    return "?";
}
