/* The YAML tree: positions, limits, refused constructs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nea_util.h"
#include "nea_ytree.h"

static int parse(const char *text, struct nea_ynode **root, struct nea_diags *d)
{
    return nea_ytree_parse("t.yaml", text, strlen(text), root, d);
}

static void test_positions(void **state)
{
    (void)state;
    struct nea_diags d = {0};
    struct nea_ynode *root = NULL;
    assert_int_equal(parse("a: 1\nb:\n  c: \"x\"\n  d: [1, 2]\n", &root, &d), NEA_OK);
    assert_int_equal(root->type, NEA_Y_MAP);
    assert_int_equal(root->n, 2);
    struct nea_ynode *b = root->items[1];
    assert_string_equal(root->keys[1]->value, "b");
    assert_int_equal(b->type, NEA_Y_MAP);
    assert_int_equal(b->items[0]->line, 3);
    assert_int_equal(b->items[0]->col, 6);
    assert_false(b->items[0]->plain);
    assert_true(root->items[0]->plain);
    assert_int_equal(b->items[1]->type, NEA_Y_SEQ);
    assert_int_equal(b->items[1]->items[1]->col, 10);
    nea_ynode_free(root);
    nea_diags_clear(&d);
}

static void test_empty(void **state)
{
    (void)state;
    struct nea_diags d = {0};
    struct nea_ynode *root = NULL;
    assert_int_equal(parse("", &root, &d), NEA_OK);
    assert_int_equal(root->type, NEA_Y_MAP);
    assert_int_equal(root->n, 0);
    nea_ynode_free(root);
    root = NULL;
    assert_int_equal(parse("# only a comment\n", &root, &d), NEA_OK);
    nea_ynode_free(root);
}

static void expect_refused(const char *text, const char *msg, unsigned line)
{
    struct nea_diags d = {0};
    struct nea_ynode *root = NULL;
    assert_int_equal(parse(text, &root, &d), NEA_ERR_INVALID);
    assert_null(root);
    assert_int_equal(d.n, 1);
    if (!strstr(d.v[0].text, msg))
        fail_msg("\"%s\" does not contain \"%s\"", d.v[0].text, msg);
    assert_int_equal(d.v[0].line, line);
    nea_diags_clear(&d);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("a: &x 1\nb: *x\n", "anchors", 1);
    expect_refused("a: 1\nb: *x\n", "alias", 2);
    expect_refused("a: !!binary aGk=\n", "tags", 1);
    expect_refused("a: 1\n---\nb: 2\n", "second", 2);
    expect_refused("a: [1, 2\nb: 3\n", "YAML syntax error", 2);
    expect_refused("? [a]\n: 1\n", "plain strings", 1);
    expect_refused("a: \"x\\0y\"\n", "NUL", 1);
}

static void test_limits(void **state)
{
    (void)state;
    /* nesting beyond the limit */
    size_t depth = NEA_YTREE_MAX_DEPTH + 5;
    char *deep = nea_xmalloc(depth * 2 + 1);
    for (size_t i = 0; i < depth; i++)
        deep[i] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[depth + i] = ']';
    deep[depth * 2] = '\0';
    expect_refused(deep, "nested too deeply", 1);
    free(deep);
    /* too many nodes */
    size_t n = NEA_YTREE_MAX_NODES + 10;
    char *wide = nea_xmalloc(n * 3 + 3);
    size_t off = 0;
    wide[off++] = '[';
    for (size_t i = 0; i < n; i++) {
        wide[off++] = '1';
        wide[off++] = ',';
    }
    wide[off - 1] = ']';
    wide[off] = '\0';
    expect_refused(wide, "too many nodes", 1);
    free(wide);
}

static void test_null(void **state)
{
    (void)state;
    struct nea_diags d = {0};
    struct nea_ynode *root = NULL;
    assert_int_equal(parse("a: ~\nb: null\nc:\nd: \"null\"\n", &root, &d), NEA_OK);
    assert_true(nea_ynode_is_null(root->items[0]));
    assert_true(nea_ynode_is_null(root->items[1]));
    assert_true(nea_ynode_is_null(root->items[2]));
    assert_false(nea_ynode_is_null(root->items[3]));
    nea_ynode_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions), cmocka_unit_test(test_empty),
        cmocka_unit_test(test_refused),   cmocka_unit_test(test_limits),
        cmocka_unit_test(test_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
