/* SHA-256 against the NIST vectors, the error record, diagnostics, file I/O,
 * URLs as they may be shown, enum tables, cleanup functions, locks and the
 * text form of transfer progress. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nea_err.h"
#include "nea_json.h"
#include "nea_lock.h"
#include "nea_progress.h"
#include "nea_sha256.h"
#include "nea_util.h"

/* an enum table as the layers write theirs */
enum color { COLOR_RED, COLOR_GREEN, COLOR_BLUE, COLOR_LAST };
NEA_ENUM_DECL(color);
NEA_ENUM_IMPL(color, COLOR_LAST, "red", "green", "blue")

/* a cleanup function made by NEA_DEFINE_CLEANUP */
struct thing {
    int *freed;
};
static void thing_free(struct thing *t)
{
    (*t->freed)++;
}
NEA_DEFINE_CLEANUP(struct thing *, thing_free)

static void hex_of(const void *d, size_t n, char out[65])
{
    uint8_t h[32];
    nea_sha256(d, n, h);
    nea_hex(h, 32, out);
}

static void sha256_vectors(void)
{
    char out[65];
    hex_of("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m, strlen(m), out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces to exercise the buffering */
    struct nea_sha256 c;
    nea_sha256_init(&c);
    char chunk[997];
    memset(chunk, 'a', sizeof(chunk));
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
        nea_sha256_update(&c, chunk, n);
        left -= n;
    }
    uint8_t h[32];
    nea_sha256_final(&c, h);
    nea_hex(h, 32, out);
    assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* 1 to 300 bytes at once and in two pieces split everywhere: the block
     * boundaries of the buffered and the direct path */
    static uint8_t data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(data); len += 13) {
        uint8_t whole[32];
        nea_sha256(data, len, whole);
        for (size_t cut = 0; cut <= len; cut += 5) {
            nea_sha256_init(&c);
            nea_sha256_update(&c, data, cut);
            nea_sha256_update(&c, data + cut, len - cut);
            nea_sha256_final(&c, h);
            assert_memory_equal(h, whole, 32);
        }
    }
}

/* Both implementations against the NIST vectors, and against each other. */
static void test_sha256_vectors(void **state)
{
    (void)state;
    nea_sha256_use_hw(false);
    assert_false(nea_sha256_hw());
    sha256_vectors();
    static uint8_t big[1 << 16];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i ^ (i >> 8));
    uint8_t c_sum[32], hw_sum[32];
    nea_sha256(big, sizeof(big), c_sum);
    nea_sha256_use_hw(true);
    print_message("SHA instructions: %s\n", nea_sha256_hw() ? "used" : "not available");
    sha256_vectors();
    nea_sha256(big, sizeof(big), hw_sum);
    assert_memory_equal(c_sum, hw_sum, 32);
}

static void test_err_first_wins(void **state)
{
    (void)state;
    struct nea_err e = {0};
    assert_int_equal(nea_err_set(&e, NEA_ERR_IO, "first %d", 1), NEA_ERR_IO);
    assert_int_equal(nea_err_set(&e, NEA_ERR_INVALID, "second"), NEA_ERR_IO);
    assert_string_equal(e.msg, "first 1");
    nea_err_clear(&e);
    assert_int_equal(e.code, NEA_OK);
    assert_int_equal(nea_err_set(NULL, NEA_ERR_IO, "x"), NEA_ERR_IO);
}

static void test_diags(void **state)
{
    (void)state;
    struct nea_diags d = {0};
    nea_diags_add(&d, NEA_DIAG_ERROR, "b.yaml", 1, 1, "b1");
    nea_diags_add(&d, NEA_DIAG_ERROR, "a.yaml", 9, 3, "a9");
    nea_diags_add(&d, NEA_DIAG_WARNING, "a.yaml", 2, 5, "a2");
    nea_diags_add(&d, NEA_DIAG_ERROR, "a.yaml", 2, 5, "a2-second");
    nea_diags_sort(&d);
    assert_int_equal(d.n_errors, 3);
    char *s = nea_diag_format(&d.v[0]);
    assert_string_equal(s, "a.yaml:2:5: warning: a2");
    free(s);
    assert_string_equal(d.v[1].text, "a2-second");
    assert_string_equal(d.v[2].text, "a9");
    assert_string_equal(d.v[3].text, "b1");
    nea_diags_clear(&d);
    for (int i = 0; i < NEA_DIAGS_MAX + 50; i++)
        nea_diags_add(&d, NEA_DIAG_ERROR, "x", 1, 1, "e%d", i);
    assert_int_equal(d.n, NEA_DIAGS_MAX);
    assert_int_equal(d.n_errors, NEA_DIAGS_MAX + 50);
    nea_diags_clear(&d);
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/nea-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = nea_xasprintf("%s/f", dir);
    struct nea_err e = {0};
    assert_int_equal(nea_write_file(path, "hello", 5, 0600, &e), NEA_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(nea_read_file(path, 5, &buf, &len, &e), NEA_OK);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    buf = NULL;
    assert_int_equal(nea_read_file(path, 4, &buf, &len, &e), NEA_ERR_INVALID);
    assert_null(buf);
    assert_non_null(strstr(e.msg, "larger than the limit"));
    nea_err_clear(&e);
    assert_int_equal(nea_read_file(dir, 100, &buf, &len, &e), NEA_ERR_IO);
    nea_err_clear(&e);
    char *missing = nea_xasprintf("%s/missing", dir);
    assert_int_equal(nea_read_file(missing, 100, &buf, &len, &e), NEA_ERR_IO);
    assert_non_null(strstr(e.msg, "cannot open"));
    nea_err_clear(&e);
    char *nodir = nea_xasprintf("%s/nodir/f", dir);
    assert_int_equal(nea_write_file(nodir, "x", 1, 0644, &e), NEA_ERR_IO);
    unlink(path);
    rmdir(dir);
    free(path);
    free(missing);
    free(nodir);
}

#define UNPARSABLE "(unparsable URL)"
#define AMBIGUOUS "(URL with ambiguous user info)"

/* URLs as they may be shown: no credentials, no query.  A URL libcurl
 * cannot parse, or whose user info it would read otherwise than meant, is
 * not shown at all (and nea_url_problem says why). */
static void test_url_redact(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out, *userinfo;
    } cases[] = {
        {"https://img.example.net/a.qcow2", "https://img.example.net/a.qcow2", NULL},
        {"https://u:pw@img.example.net/a.qcow2", "https://img.example.net/a.qcow2", "u:pw"},
        /* a raw '/' in the password: libcurl reads host "u", port "p" */
        {"http://u:p/w@192.0.2.1:8080/a.img", UNPARSABLE, NULL},
        {"https://u:a/b@host/p", UNPARSABLE, NULL},
        /* a raw '@' in the password: host "ss@h.example" */
        {"https://u:p@ss@h.example/x", UNPARSABLE, NULL},
        /* libcurl: password "p", host "ss", fragment "x/y@host/path" */
        {"https://user:p@ss#x/y@host/path", AMBIGUOUS, NULL},
        /* a raw '/' in the user name: host "us", path "/er:pw@host/p" */
        {"https://us/er:pw@host/p", AMBIGUOUS, NULL},
        {"https://u:1?pw@host/p", AMBIGUOUS, NULL},
        {"https://h.example/x.qcow2?X-Token=secret", "https://h.example/x.qcow2?...", NULL},
        {"https://a:b@h.example/x?sig=1#frag", "https://h.example/x?...", "a:b"},
        {"https://u:pw@[2001:db8::1]:8443/x?q#f", "https://[2001:db8::1]:8443/x?...",
         "u:pw"},
        {"https://[fe80::1%25eth0]:8443/x", "https://[fe80::1%25eth0]:8443/x", NULL},
        {"https://u%3Ax:p%40%2F%3F%23w@h.example/x", "https://h.example/x",
         "u%3Ax:p%40%2F%3F%23w"},
        {"file:///srv/img.qcow2", "file:///srv/img.qcow2", NULL},
        {"file:///srv/a@b.qcow2", "file:///srv/a@b.qcow2", NULL},
        {"https://@h.example/x", "https://h.example/x", NULL},
        {"https://:pw@h.example/x", "https://h.example/x", ":pw"},
        /* local paths are not URLs: shown as they are, unless an '@' */
        {"/srv/images/nea.qcow2", "/srv/images/nea.qcow2", NULL},
        {"images/nea.qcow2", "images/nea.qcow2", NULL},
        {"bob:hunter2@127.0.0.1/x", UNPARSABLE, NULL},
        {"https://h example/x", UNPARSABLE, NULL},
    };
    for (size_t i = 0; i < NEA_ARRAY_SIZE(cases); i++) {
        char *r = nea_url_redact(cases[i].in);
        if (strcmp(r, cases[i].out))
            fail_msg("%s: redacted \"%s\", expected \"%s\"", cases[i].in, r, cases[i].out);
        free(r);
        char *u = nea_url_userinfo(cases[i].in);
        if (cases[i].userinfo)
            assert_string_equal(u, cases[i].userinfo);
        else
            assert_null(u);
        free(u);
        /* what is not shown is refused, with a reason that quotes nothing */
        if (strstr(cases[i].in, "://")) {
            char *why = nea_url_problem(cases[i].in);
            bool hidden = !strcmp(cases[i].out, UNPARSABLE) ||
                          !strcmp(cases[i].out, AMBIGUOUS);
            if (hidden != (why != NULL))
                fail_msg("%s: nea_url_problem says \"%s\"", cases[i].in,
                         why ? why : "(nothing)");
            if (why) {
                static const char *const parts[] = {"h.example", "host/", "p@ss", "x/y",
                                                    "er:pw", "a/b", "p/w", "192.0.2"};
                for (size_t k = 0; k < NEA_ARRAY_SIZE(parts); k++)
                    assert_null(strstr(why, parts[k]));
            }
            free(why);
        }
    }
}

/* Every reserved character, raw and percent-encoded, in the user name, the
 * password or both, with a name, an IPv4 and an IPv6 host, with and without
 * a port and a query: no byte of the user name or password is ever shown
 * (each is two markers around the character, and neither marker may
 * appear), and what is shown is scheme://host[:port]/path[?...] exactly, or
 * a fixed text that shows nothing. */
static void test_url_reserved(void **state)
{
    (void)state;
    static const char reserved[] = ":/?#[]@!$&'()*+,;=% ";
    static const char *const hosts[] = {"img.example.net", "192.0.2.7", "[2001:db8::1]"};
    static const char *const ports[] = {"", ":8443"};
    static const char *const queries[] = {"", "?X-Sig=abc"};
    static const char *const markers[] = {"USRA", "USRB", "PWDA", "PWDB"};
    size_t shown = 0, hidden = 0;
    for (const char *r = reserved; *r; r++) {
        for (int enc = 0; enc < 2; enc++) {
            char ch[4];
            if (enc)
                snprintf(ch, sizeof(ch), "%%%02X", (unsigned char)*r);
            else
                snprintf(ch, sizeof(ch), "%c", *r);
            for (int where = 0; where < 3; where++) { /* user, password, both */
                NEA_AUTOFREE char *user = nea_xasprintf("USRA%sUSRB", where != 1 ? ch : "");
                NEA_AUTOFREE char *pw = nea_xasprintf("PWDA%sPWDB", where != 0 ? ch : "");
                for (size_t h = 0; h < NEA_ARRAY_SIZE(hosts); h++)
                    for (size_t p = 0; p < NEA_ARRAY_SIZE(ports); p++)
                        for (size_t q = 0; q < NEA_ARRAY_SIZE(queries); q++) {
                            NEA_AUTOFREE char *url = nea_xasprintf(
                                "https://%s:%s@%s%s/a/nea.qcow2%s", user, pw, hosts[h],
                                ports[p], queries[q]);
                            NEA_AUTOFREE char *want = nea_xasprintf(
                                "https://%s%s/a/nea.qcow2%s", hosts[h], ports[p],
                                *queries[q] ? "?..." : "");
                            NEA_AUTOFREE char *got = nea_url_redact(url);
                            NEA_AUTOFREE char *info = nea_url_userinfo(url);
                            NEA_AUTOFREE char *why = nea_url_problem(url);
                            for (size_t m = 0; m < NEA_ARRAY_SIZE(markers); m++)
                                if (strstr(got, markers[m]))
                                    fail_msg("%s: shown as \"%s\"", url, got);
                            if (!strcmp(got, want)) {
                                shown++;
                                assert_null(why);
                                NEA_AUTOFREE char *ui = nea_xasprintf("%s:%s", user, pw);
                                assert_non_null(info);
                                assert_string_equal(info, ui);
                            } else if (!strcmp(got, UNPARSABLE) || !strcmp(got, AMBIGUOUS)) {
                                hidden++;
                                assert_non_null(why);
                                assert_null(info);
                                for (size_t m = 0; m < NEA_ARRAY_SIZE(markers); m++)
                                    assert_null(strstr(why, markers[m]));
                            } else {
                                fail_msg("%s: shown as \"%s\", expected \"%s\"", url, got,
                                         want);
                            }
                            /* percent-encoded, anything is fine; raw, the
                             * characters that end a user info never are */
                            if (enc || !strchr("/?#@ ", *r))
                                continue;
                            if (strcmp(got, UNPARSABLE) && strcmp(got, AMBIGUOUS))
                                fail_msg("%s: shown as \"%s\"", url, got);
                        }
            }
        }
    }
    /* all encoded cases are shown; the raw delimiters never */
    assert_true(shown >= (sizeof(reserved) - 1) * 3 * 12);
    assert_true(hidden >= 5 * 3 * 12);
}

/* Recorded strings reach a terminal with their control characters as
 * visible escapes, and JSON escapes them too (C0, DEL, C1; bytes that are
 * not UTF-8 become U+FFFD). */
static void test_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in, *text, *json;
    } cases[] = {
        {"plain: caf\xc3\xa9", "plain: caf\xc3\xa9", "\"plain: caf\xc3\xa9\""},
        {"\x1b[2J\nfake line", "\\x1b[2J\\nfake line", "\"\\u001b[2J\\nfake line\""},
        {"a\tb\rc\x07" "d\x7f", "a\\tb\\rc\\x07d\\x7f", "\"a\\tb\\rc\\u0007d\\u007f\""},
        {"back\\slash \"q\"", "back\\\\slash \"q\"", "\"back\\\\slash \\\"q\\\"\""},
        {"c1 \xc2\x9b" "31m", "c1 \\u009b31m", "\"c1 \\u009b31m\""},
        {"raw \x9b" "31m", "raw \\x9b31m", "\"raw \\ufffd31m\""},
        {"rtl \xe2\x80\xae!", "rtl \\u202e!", "\"rtl \\u202e!\""},
        {"cut \xe2\x80", "cut \\xe2\\x80", "\"cut \\ufffd\\ufffd\""},
        {"long \xc0\xaf", "long \\xc0\\xaf", "\"long \\ufffd\\ufffd\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = nea_text_escape(cases[i].in);
        assert_string_equal(t, cases[i].text);
        free(t);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        struct nea_json j;
        nea_json_begin(&j, f);
        nea_json_str(&j, NULL, cases[i].in);
        fclose(f);
        assert_string_equal(buf, cases[i].json);
        free(buf);
    }
}

static void test_enum_table(void **state)
{
    (void)state;
    assert_string_equal(color_name(COLOR_RED), "red");
    assert_string_equal(color_name(COLOR_BLUE), "blue");
    assert_string_equal(color_name(COLOR_LAST), "?");
    assert_string_equal(color_name(-1), "?");
    assert_int_equal(color_parse("green"), COLOR_GREEN);
    assert_int_equal(color_parse("Green"), -1);
    assert_int_equal(color_parse(""), -1);
    assert_int_equal(color_parse(NULL), -1);
    /* a table one name short or long does not compile: the static assert
     * of NEA_ENUM_IMPL (checked by building, not here) */
}

static void test_cleanup_macro(void **state)
{
    (void)state;
    int freed = 0;
    struct thing a = {&freed};
    {
        NEA_AUTO(thing_freep) struct thing *t = &a;
        NEA_AUTO(thing_freep) struct thing *none = NULL;
        (void)t;
        (void)none;
    }
    assert_int_equal(freed, 1); /* NULL is not freed */
    {
        NEA_AUTO(thing_freep) struct thing *t = &a;
        struct thing *kept = TAKE_PTR(t);
        (void)kept;
    }
    assert_int_equal(freed, 1);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    {
        NEA_AUTO(nea_closep) int owned = fd;
        (void)owned;
    }
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
}

/* What a busy lock is worded with: the holder, as nea_lock_take found it. */
static int note_holder(void *data, const char *holder, struct nea_err *err)
{
    snprintf(data, 256, "%s", holder);
    return nea_err_set(err, NEA_ERR_BUSY, "held by %s", holder);
}

/* nea_lock_take: a second process waits its timeout and learns who holds
 * the lock; the file is 0600 and never followed as a link; the fd is left
 * alone on failure. */
static void test_lock(void **state)
{
    (void)state;
    char dir[] = "/tmp/nea-lock-XXXXXX";
    assert_non_null(mkdtemp(dir));
    NEA_AUTOFREE char *path = nea_xasprintf("%s/x.lock", dir);
    struct nea_err err = {0};
    int fd = -1;
    assert_int_equal(nea_lock_take(path, 0, NULL, NULL, &fd, &err), NEA_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    int to_parent[2];
    assert_int_equal(pipe(to_parent), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char holder[256] = "";
        int cfd = 77;
        struct nea_err cerr = {0};
        int rc = nea_lock_take(path, 1, note_holder, holder, &cfd, &cerr);
        struct nea_err plain = {0};
        int rc2 = nea_lock_take(path, 0, NULL, NULL, &cfd, &plain);
        bool ok = rc == NEA_ERR_BUSY && rc2 == NEA_ERR_BUSY && cfd == 77 &&
                  strstr(cerr.msg, holder) && strstr(plain.msg, holder) &&
                  strstr(plain.msg, path);
        _exit(ok && write(to_parent[1], holder, strlen(holder)) > 0 ? 0 : 1);
    }
    close(to_parent[1]);
    char holder[256] = "";
    ssize_t n = read(to_parent[0], holder, sizeof(holder) - 1);
    holder[n > 0 ? n : 0] = '\0';
    close(to_parent[0]);
    int status = 0;
    waitpid(child, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    NEA_AUTOFREE char *me = nea_xasprintf("pid %ld, command ", (long)getpid());
    assert_non_null(strstr(holder, me));
    nea_unlock(fd);

    NEA_AUTOFREE char *link = nea_xasprintf("%s/link.lock", dir);
    assert_int_equal(symlink(path, link), 0);
    fd = 99;
    assert_int_equal(nea_lock_take(link, 0, NULL, NULL, &fd, &err), NEA_ERR_IO);
    assert_int_equal(fd, 99);
    assert_non_null(strstr(err.msg, "cannot create lock file"));
    unlink(link);
    unlink(path);
    rmdir(dir);
}

static char *read_all(int fd)
{
    char *buf = nea_xmalloc(65536);
    ssize_t n = pread(fd, buf, 65535, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* The text form of progress events, as the CLI shows a download on a file:
 * a line per tenth (a resumed one from the next tenth), notes and the end
 * on lines of their own, a cache hit; nothing for a stopped attempt. */
static void test_progress_text(void **state)
{
    (void)state;
    int fd = memfd_create("progress", MFD_CLOEXEC);
    assert_true(fd >= 0);
    struct nea_progress_text t;
    nea_progress_text_init(&t, fd);
    assert_false(t.tty);
    const uint64_t mib = 1 << 20, total = 4 * mib;
    struct nea_progress p = {.event = NEA_PROGRESS_START, .what = "http://h/img",
                             .done = total / 4, .start = total / 4};
    nea_progress_text(&t, &p);
    p.event = NEA_PROGRESS_NOTE;
    p.note = "resuming at 1.0 MiB";
    nea_progress_text(&t, &p);
    p.note = NULL;
    for (uint64_t d = total / 4; d <= total; d += total / 64) {
        p.event = NEA_PROGRESS_BYTES;
        p.done = d;
        p.total = total;
        p.rate = (double)mib;
        nea_progress_text(&t, &p);
    }
    p.event = NEA_PROGRESS_DONE;
    p.done = total;
    p.elapsed_s = 3.0;
    p.note = "sha256 verified";
    nea_progress_text(&t, &p);
    p = (struct nea_progress){.event = NEA_PROGRESS_CACHED, .what = "http://h/img",
                              .note = "/c/sha256-x"};
    nea_progress_text(&t, &p);
    p.event = NEA_PROGRESS_STOPPED;
    nea_progress_text(&t, &p);
    NEA_AUTOFREE char *text = read_all(fd);
    close(fd);
    assert_string_equal(text,
                        "http://h/img: resuming at 1.0 MiB\n"
                        "http://h/img: 31%, 1.2 MiB of 4.0 MiB, 1.0 MiB/s, ETA 3s\n"
                        "http://h/img: 40%, 1.6 MiB of 4.0 MiB, 1.0 MiB/s, ETA 2s\n"
                        "http://h/img: 50%, 2.0 MiB of 4.0 MiB, 1.0 MiB/s, ETA 2s\n"
                        "http://h/img: 60%, 2.4 MiB of 4.0 MiB, 1.0 MiB/s, ETA 2s\n"
                        "http://h/img: 70%, 2.8 MiB of 4.0 MiB, 1.0 MiB/s, ETA 1s\n"
                        "http://h/img: 81%, 3.2 MiB of 4.0 MiB, 1.0 MiB/s, ETA 1s\n"
                        "http://h/img: 90%, 3.6 MiB of 4.0 MiB, 1.0 MiB/s, ETA 0s\n"
                        "http://h/img: done, 4.0 MiB in 3.0 s, sha256 verified\n"
                        "http://h/img: already in the cache (/c/sha256-x)\n");
    /* -1: nothing, anywhere */
    nea_progress_text_init(&t, -1);
    nea_progress_text(&t, &p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_err_first_wins),
        cmocka_unit_test(test_diags),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_url_redact),
        cmocka_unit_test(test_url_reserved),
        cmocka_unit_test(test_enum_table),
        cmocka_unit_test(test_cleanup_macro),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_progress_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
