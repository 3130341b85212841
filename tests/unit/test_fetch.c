/*
 * Images by URL (nea_fetch) against tests/fetch/http_server.py, which this
 * binary starts on 127.0.0.1 (ephemeral ports) and stops.  Nothing here
 * talks to any other address: proxies from the environment are switched off
 * first.  Each test gets a fresh cache directory and removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nea_err.h"
#include "nea_fetch.h"
#include "nea_progress.h"
#include "nea_sha256.h"
#include "nea_util.h"

extern char **environ;

static pid_t server_pid = -1;
static int server_stdin = -1;  /* closing it makes the server exit */
static int port, tls_port;
static long image_size;
static char image_sha[65];
static char tls_dir[] = "/tmp/nea-fetch-tls-XXXXXX";
static char *tls_cert;

/* per test */
static char tmp_dir[64];
static char *cache;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int server_start(void **state)
{
    (void)state;
    /* only ever 127.0.0.1, never through a proxy someone configured */
    const char *proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                             "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(proxies); i++)
        unsetenv(proxies[i]);
    setenv("no_proxy", "*", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    if (!mkdtemp(tls_dir))
        return -1;
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *argv[] = {NEA_PYTHON3, NEA_FETCH_SERVER, "--watch-stdin", "--tls", tls_dir,
                    NULL};
    int rc = posix_spawn(&server_pid, NEA_PYTHON3, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(in[0]);
    server_stdin = in[1];
    if (rc != 0) {
        fprintf(stderr, "cannot start %s: %s\n", NEA_FETCH_SERVER, strerror(rc));
        server_pid = -1;
        return -1;
    }
    char line[256];
    size_t len = 0;
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, 30000) <= 0)
            break;
        ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "%d %d %64s %ld", &port, &tls_port, image_sha, &image_size) != 4) {
        fprintf(stderr, "the test server did not start: '%s'\n", line);
        return -1;
    }
    tls_cert = nea_xasprintf("%s/cert.pem", tls_dir);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    if (server_stdin >= 0)
        close(server_stdin);
    rm_rf(tls_dir);
    free(tls_cert);
    curl_global_cleanup();
    return 0;
}

static int cache_setup(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/nea-fetch-XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    /* two levels that do not exist yet: nea_fetch_image creates them */
    cache = nea_xasprintf("%s/cache/images", tmp_dir);
    return 0;
}

static int cache_teardown(void **state)
{
    (void)state;
    rm_rf(tmp_dir);
    free(cache);
    cache = NULL;
    return 0;
}

static char *url(const char *path)
{
    return nea_xasprintf("http://127.0.0.1:%d%s", port, path);
}

static struct nea_fetch_opts opts(void)
{
    return (struct nea_fetch_opts){
        .cache_dir = cache,
        .connect_timeout_s = 5,
        .stall_timeout_s = 5,
    };
}

/* A file in memory for progress text (or stderr) to go to. */
static int scratch_fd(void)
{
    int fd = memfd_create("nea-fetch-out", MFD_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* What was written to fd, which is closed; something must have been. */
static void fd_text(int fd, char *buf, size_t size)
{
    ssize_t n = pread(fd, buf, size - 1, 0);
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
}

/* Fetches the image at u twice with o, a download and then a cache hit,
 * and reads the progress text written to fd (then closed). */
static void fetch_twice(struct nea_fetch_opts *o, const char *u, int fd, char *buf,
                        size_t size, char **ret_path)
{
    struct nea_err e = {0};
    NEA_AUTOFREE char *again = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, o, ret_path, &e), NEA_OK);
    assert_int_equal(nea_fetch_image(u, image_sha, o, &again, &e), NEA_OK);
    assert_string_equal(again, *ret_path);
    fd_text(fd, buf, size);
}

/* Progress shown as the CLI shows it: the text form on fd. */
static void show_progress_on(struct nea_fetch_opts *o, struct nea_progress_text *t, int fd)
{
    nea_progress_text_init(t, fd);
    o->progress = nea_progress_text;
    o->progress_data = t;
}

static size_t collect(char *d, size_t size, size_t n, void *ud)
{
    char **buf = ud;
    size_t old = *buf ? strlen(*buf) : 0;
    *buf = nea_xrealloc(*buf, old + size * n + 1);
    memcpy(*buf + old, d, size * n);
    (*buf)[old + size * n] = '\0';
    return size * n;
}

/* The server's request log: how many requests, and the last "PATH RANGE". */
static int requests(char last[128])
{
    CURL *c = curl_easy_init();
    char *u = url("/stats");
    char *body = NULL;
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    free(u);
    int n = -1;
    assert_int_equal(sscanf(body, "requests %d", &n), 1);
    if (last) {
        last[0] = '\0';
        char *l = strrchr(body, '\n');
        if (l && l > body) {
            *l = '\0';
            char *s = strrchr(body, '\n');
            snprintf(last, 128, "%s", s ? s + 1 : body);
        }
    }
    free(body);
    return n;
}

static char *cache_path(const char *suffix)
{
    return nea_xasprintf("%s/sha256-%s%s", cache, image_sha, suffix);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void assert_cached_image(const char *path)
{
    NEA_AUTOFREE char *want = cache_path("");
    assert_string_equal(path, want);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, image_size);
    assert_int_equal(st.st_mode & 07777, 0644);
    NEA_AUTOFREE char *buf = NULL;
    size_t len = 0;
    struct nea_err e = {0};
    assert_int_equal(nea_read_file(path, (size_t)image_size, &buf, &len, &e), NEA_OK);
    uint8_t h[32];
    char hex[65];
    nea_sha256(buf, len, h);
    nea_hex(h, 32, hex);
    assert_string_equal(hex, image_sha);
    NEA_AUTOFREE char *part = cache_path(".part");
    assert_int_equal(file_size(part), -1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the tests --------------------------------------------------------- */

static void test_full_then_cached(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/img");
    int before = requests(NULL);
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
    struct stat st;
    assert_int_equal(stat(cache, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(requests(NULL), before + 1);

    /* a cache hit: the server is not asked again, whatever the URL */
    NEA_AUTOFREE char *again = NULL;
    NEA_AUTOFREE char *other = url("/404");
    assert_int_equal(nea_fetch_image(other, image_sha, &o, &again, &e), NEA_OK);
    assert_string_equal(again, path);
    assert_int_equal(requests(NULL), before + 1);
}

static void test_resume_after_cut(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/cut");
    NEA_AUTOFREE char *part = cache_path(".part");
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_HOST);
    assert_null(path);
    assert_non_null(strstr(e.msg, u));
    assert_non_null(strstr(e.msg, "the next fetch resumes"));
    assert_int_equal(file_size(part), image_size / 2);

    nea_err_clear(&e);
    char last[128];
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
    requests(last);
    char want[128];
    snprintf(want, sizeof(want), "/cut bytes=%ld-", image_size / 2);
    assert_string_equal(last, want);
}

/* A .part left by an earlier run: n bytes of junk. */
static void write_part(const char *path, size_t n)
{
    NEA_AUTOFREE char *junk = nea_xmalloc(n);
    memset(junk, 'x', n);
    NEA_AUTOFREE char *parent = nea_xasprintf("%s/cache", tmp_dir);
    mkdir(parent, 0755);
    mkdir(cache, 0755);
    struct nea_err e = {0};
    assert_int_equal(nea_write_file(path, junk, n, 0644, &e), NEA_OK);
}

static void test_server_ignores_range(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/norange");
    NEA_AUTOFREE char *part = cache_path(".part");
    write_part(part, 1000);
    int before = requests(NULL);
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
    char last[128];
    /* a Range request answered with 200, then once more from zero */
    assert_int_equal(requests(last), before + 2);
    assert_string_equal(last, "/norange -");
}

static void test_range_not_satisfiable(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/img");
    NEA_AUTOFREE char *part = cache_path(".part");
    NEA_AUTOFREE char *final = cache_path("");
    NEA_AUTOFREE char *path = NULL;

    /* a complete .part (cut just before the rename): 416 and it verifies */
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_int_equal(rename(final, part), 0);
    int before = requests(NULL);
    free(path);
    path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
    assert_int_equal(requests(NULL), before + 1);

    /* a .part longer than the image: 416, no match, once more from zero */
    assert_int_equal(unlink(final), 0);
    write_part(part, (size_t)image_size + 10);
    before = requests(NULL);
    free(path);
    path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
    char last[128];
    assert_int_equal(requests(last), before + 2);
    assert_string_equal(last, "/img -");
}

/* A .part of junk shorter than the image: resumed with 206, the sum (of the
 * kept junk and the streamed rest) does not match, once more from zero. */
static void test_resume_junk_part(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/img");
    NEA_AUTOFREE char *part = cache_path(".part");
    write_part(part, 1000);
    int before = requests(NULL);
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
    char last[128];
    assert_int_equal(requests(last), before + 2);
    assert_string_equal(last, "/img -");
}

static void test_checksum_mismatch(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/bad");
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    assert_null(path);
    assert_non_null(strstr(e.msg, u));
    char *exp = strstr(e.msg, "expected ");
    assert_non_null(exp);
    assert_memory_equal(exp + 9, image_sha, 64);
    char *got = strstr(e.msg, "has sha256 ");
    assert_non_null(got);
    got += 11;
    assert_int_equal(strspn(got, "0123456789abcdef"), 64);
    assert_memory_not_equal(got, image_sha, 64);
    NEA_AUTOFREE char *part = cache_path(".part");
    NEA_AUTOFREE char *final = cache_path("");
    assert_int_equal(file_size(part), -1);
    assert_int_equal(file_size(final), -1);
}

static void test_http_errors(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/404");
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_HOST);
    assert_non_null(strstr(e.msg, "HTTP 404"));
    assert_non_null(strstr(e.msg, u));
    NEA_AUTOFREE char *part = cache_path(".part");
    assert_int_equal(file_size(part), -1); /* nothing received, nothing kept */

    /* a port nobody listens on: take one, then close it */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    NEA_AUTOFREE char *closed = nea_xasprintf("http://127.0.0.1:%d/img", ntohs(a.sin_port));
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(closed, image_sha, &o, &path, &e), NEA_ERR_HOST);
    assert_non_null(strstr(e.msg, closed));
}

static void test_stall(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    o.stall_timeout_s = 2;
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/stall");
    NEA_AUTOFREE char *path = NULL;
    double t = now_s();
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_TIMEOUT);
    t = now_s() - t;
    assert_true(t >= 1.5 && t < 10);
    assert_non_null(strstr(e.msg, "stalled"));
    assert_non_null(strstr(e.msg, "2 s"));
    assert_non_null(strstr(e.msg, u));
    NEA_AUTOFREE char *part = cache_path(".part");
    assert_int_equal(file_size(part), 100); /* kept for a resume */
}

static void test_redirects(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/redirect");
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);

    NEA_AUTOFREE char *final = cache_path("");
    unlink(final);
    NEA_AUTOFREE char *loop = url("/loop");
    free(path);
    path = NULL;
    int before = requests(NULL);
    assert_int_equal(nea_fetch_image(loop, image_sha, &o, &path, &e), NEA_ERR_HOST);
    assert_null(path);
    assert_non_null(strstr(e.msg, "more than 5 redirects"));
    assert_non_null(strstr(e.msg, loop));
    assert_int_equal(requests(NULL), before + 6); /* the first and 5 redirects */

    o.max_redirects = 2;
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(loop, image_sha, &o, &path, &e), NEA_ERR_HOST);
    assert_non_null(strstr(e.msg, "more than 2 redirects"));

    /* a server never sends us to a local file */
    o.max_redirects = 0;
    NEA_AUTOFREE char *to_file = url("/to-file");
    nea_err_clear(&e);
    assert_true(nea_fetch_image(to_file, image_sha, &o, &path, &e) < 0);
    assert_null(path);
    assert_int_equal(file_size(final), -1);
}

static void test_file_url(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *src = nea_xasprintf("%s/local image.raw", tmp_dir);
    static const char body[] = "not really a disk image\n";
    assert_int_equal(nea_write_file(src, body, sizeof(body) - 1, 0600, &e), NEA_OK);
    uint8_t h[32];
    char hex[65];
    nea_sha256(body, sizeof(body) - 1, h);
    nea_hex(h, 32, hex);
    NEA_AUTOFREE char *u = nea_xasprintf("file://%s/local%%20image.raw", tmp_dir);
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, hex, &o, &path, &e), NEA_OK);
    NEA_AUTOFREE char *buf = NULL;
    size_t len = 0;
    assert_int_equal(nea_read_file(path, 1024, &buf, &len, &e), NEA_OK);
    assert_string_equal(buf, body);

    NEA_AUTOFREE char *missing = nea_xasprintf("file://%s/missing.raw", tmp_dir);
    NEA_AUTOFREE char *p2 = NULL;
    assert_int_equal(nea_fetch_image(missing, image_sha, &o, &p2, &e), NEA_ERR_IO);
    assert_non_null(strstr(e.msg, missing));
}

static void test_refused_input(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    char *path = NULL;
    assert_int_equal(nea_fetch_image("ftp://127.0.0.1/img", image_sha, &o, &path, &e),
                     NEA_ERR_INVALID);
    assert_non_null(strstr(e.msg, "scheme ftp is not allowed"));
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image("127.0.0.1/img", image_sha, &o, &path, &e),
                     NEA_ERR_INVALID);
    assert_non_null(strstr(e.msg, "not an image URL"));
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image("", image_sha, &o, &path, &e), NEA_ERR_INVALID);
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image("http://127.0.0.1:1/img", image_sha, NULL, &path, &e),
                     NEA_ERR_INVALID);
    assert_non_null(strstr(e.msg, "cache"));
    assert_null(path);

    /* the cache is a file */
    NEA_AUTOFREE char *file = nea_xasprintf("%s/file", tmp_dir);
    assert_int_equal(nea_write_file(file, "x", 1, 0644, &e), NEA_OK);
    o.cache_dir = file;
    nea_err_clear(&e);
    NEA_AUTOFREE char *u = url("/img");
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_IO);
    assert_non_null(strstr(e.msg, file));

    assert_true(nea_fetch_is_url("http://h/x"));
    assert_true(nea_fetch_is_url("HTTPS://h/x"));
    assert_true(nea_fetch_is_url("file:///x"));
    assert_true(nea_fetch_is_url("ftp://h/x"));
    assert_true(nea_fetch_is_url("git+ssh://h/x"));
    assert_false(nea_fetch_is_url("/var/lib/images/x.qcow2"));
    assert_false(nea_fetch_is_url("images/x.qcow2"));
    assert_false(nea_fetch_is_url("C:/x"));
    assert_false(nea_fetch_is_url("1http://x"));
    assert_false(nea_fetch_is_url(""));
    assert_false(nea_fetch_is_url(NULL));
}

static void test_bad_sha256(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    NEA_AUTOFREE char *u = url("/img");
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(image_sha[i] >= 'a' ? image_sha[i] - 32 : image_sha[i]);
    char shorter[65];
    memcpy(shorter, image_sha, 63);
    shorter[63] = '\0';
    char longer[70];
    snprintf(longer, sizeof(longer), "%s0", image_sha);
    const char *bad[] = {NULL, "", upper, shorter, longer, "sha256:abc", "xyz"};
    int before = requests(NULL);
    for (size_t i = 0; i < NEA_ARRAY_SIZE(bad); i++) {
        struct nea_err e = {0};
        char *path = NULL;
        assert_int_equal(nea_fetch_image(u, bad[i], &o, &path, &e), NEA_ERR_INVALID);
        assert_null(path);
        assert_non_null(strstr(e.msg, "sha256"));
        assert_non_null(strstr(e.msg, u));
    }
    assert_int_equal(requests(NULL), before);
}

static void test_credentials_hidden(void **state)
{
    (void)state;
    int fd = scratch_fd();
    struct nea_fetch_opts o = opts();
    struct nea_progress_text text;
    show_progress_on(&o, &text, fd);
    const char *paths[] = {"/404", "/bad", "/loop", "/img"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(paths); i++) {
        struct nea_err e = {0};
        NEA_AUTOFREE char *u = nea_xasprintf("http://alice:s3cret@127.0.0.1:%d%s", port,
                                             paths[i]);
        NEA_AUTOFREE char *shown = url(paths[i]);
        NEA_AUTOFREE char *path = NULL;
        int rc = nea_fetch_image(u, image_sha, &o, &path, &e);
        if (i < 3) {
            assert_true(rc < 0);
            assert_non_null(strstr(e.msg, shown));
            assert_null(strstr(e.msg, "s3cret"));
            assert_null(strstr(e.msg, "alice"));
        } else {
            assert_int_equal(rc, NEA_OK);
        }
    }
    struct nea_err e = {0};
    char *path = NULL;
    assert_int_equal(nea_fetch_image("ftp://bob:hunter2@127.0.0.1/x", image_sha, &o, &path,
                                     &e), NEA_ERR_INVALID);
    assert_null(strstr(e.msg, "hunter2"));
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image("bob:hunter2@127.0.0.1/x", image_sha, &o, &path, &e),
                     NEA_ERR_INVALID);
    assert_null(strstr(e.msg, "hunter2"));

    char buf[8192];
    fd_text(fd, buf, sizeof(buf));
    assert_non_null(strstr(buf, "done"));
    assert_null(strstr(buf, "s3cret"));
    assert_null(strstr(buf, "alice"));
}

/* A URL libcurl would read otherwise than meant (a raw '@', '/', '?' or '#'
 * in the password) is refused before any request, and the message shows no
 * part of the password; percent-encoded, the same credentials work. */
static void test_ambiguous_credentials(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    /* the user info as typed, unencoded */
    const char *bad[] = {"alice:s3c@ret#x/y", "alice:s3c/ret", "al/ice:s3cret",
                         "alice:s3c?ret"};
    int before = requests(NULL);
    for (size_t i = 0; i < NEA_ARRAY_SIZE(bad); i++) {
        NEA_AUTOFREE char *u = nea_xasprintf("http://%s@127.0.0.1:%d/img", bad[i], port);
        struct nea_err e = {0};
        char *path = NULL;
        assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_INVALID);
        assert_null(path);
        assert_non_null(strstr(e.msg, "image URL"));
        assert_null(strstr(e.msg, "s3c"));
        assert_null(strstr(e.msg, "ret"));
        assert_null(strstr(e.msg, "alice"));
        assert_null(strstr(e.msg, "al/ice"));
    }
    assert_int_equal(requests(NULL), before);

    int fd = scratch_fd();
    struct nea_progress_text text;
    show_progress_on(&o, &text, fd);
    NEA_AUTOFREE char *u = nea_xasprintf("http://al%%2Fice:s3c%%40ret%%23x%%2Fy%%3F@"
                                         "127.0.0.1:%d/img?sig=s3cret", port);
    struct nea_err e = {0};
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
    char buf[8192];
    fd_text(fd, buf, sizeof(buf));
    NEA_AUTOFREE char *shown = nea_xasprintf("http://127.0.0.1:%d/img?...: done", port);
    assert_non_null(strstr(buf, shown));
    assert_null(strstr(buf, "s3c"));
    assert_null(strstr(buf, "ice"));
}

/* The size cap, announced: a Content-Length over it is refused before the
 * body (10^15 bytes against the default 64 GiB; the 4 MiB image against a
 * cap one byte short), naming the URL, the size and the cap; no .part. */
static void test_size_cap_announced(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/huge");
    NEA_AUTOFREE char *part = cache_path(".part");
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    assert_null(path);
    assert_non_null(strstr(e.msg, u));
    assert_non_null(strstr(e.msg, "1000000000000000 bytes"));
    assert_non_null(strstr(e.msg, "68719476736 bytes (64.0 GiB)"));
    assert_non_null(strstr(e.msg, "image size limit"));
    assert_int_equal(file_size(part), -1);

    /* the credentials of the URL are not in the sentence */
    NEA_AUTOFREE char *cred = nea_xasprintf("http://alice:s3cret@127.0.0.1:%d/huge", port);
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(cred, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    assert_non_null(strstr(e.msg, u));
    assert_null(strstr(e.msg, "s3cret"));

    NEA_AUTOFREE char *img = url("/img");
    o.max_bytes = (uint64_t)image_size - 1;
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(img, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    NEA_AUTOFREE char *sz = nea_xasprintf("%ld bytes", image_size);
    NEA_AUTOFREE char *cap = nea_xasprintf("%ld bytes", image_size - 1);
    assert_non_null(strstr(e.msg, img));
    assert_non_null(strstr(e.msg, sz));
    assert_non_null(strstr(e.msg, cap));
    assert_int_equal(file_size(part), -1);

    /* a file:// source is capped by its size the same way */
    NEA_AUTOFREE char *src = nea_xasprintf("%s/big.raw", tmp_dir);
    NEA_AUTOFREE char *body = nea_xmalloc(10000);
    memset(body, 'x', 10000);
    assert_int_equal(nea_write_file(src, body, 10000, 0600, &e), NEA_OK);
    NEA_AUTOFREE char *file = nea_xasprintf("file://%s", src);
    o.max_bytes = 5000;
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(file, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    assert_non_null(strstr(e.msg, "10000 bytes"));
    assert_non_null(strstr(e.msg, "5000 bytes"));
    assert_int_equal(file_size(part), -1);

    /* exactly at the cap is fine */
    o.max_bytes = (uint64_t)image_size;
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(img, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
}

/* The size cap, as the bytes arrive: a chunked body without a length is
 * cut off once it passes the cap, and the .part is removed. */
static void test_size_cap_chunked(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    o.max_bytes = 1 << 20;
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/chunked");
    NEA_AUTOFREE char *part = cache_path(".part");
    NEA_AUTOFREE char *path = NULL;
    double t = now_s();
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    t = now_s() - t;
    assert_true(t < 10);
    assert_null(path);
    assert_non_null(strstr(e.msg, u));
    assert_non_null(strstr(e.msg, "grew past the image size limit of 1048576 bytes (1.0 MiB)"));
    assert_int_equal(file_size(part), -1);
}

/* The size cap counts a resumed .part: its bytes plus the rest a 206
 * announces are refused before anything is appended; and a .part already
 * over the cap (kept from a run with a larger one) is refused without a
 * request.  Both .part files are removed. */
static void test_size_cap_resume(void **state)
{
    (void)state;
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/img");
    NEA_AUTOFREE char *part = cache_path(".part");
    NEA_AUTOFREE char *path = NULL;
    /* the rest (4 MiB - 1 KiB) is under a 4 MiB - 1 cap, the whole is not */
    write_part(part, 1024);
    o.max_bytes = (uint64_t)image_size - 1;
    int before = requests(NULL);
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    char last[128];
    assert_int_equal(requests(last), before + 1);
    assert_string_equal(last, "/img bytes=1024-");
    NEA_AUTOFREE char *sz = nea_xasprintf("%ld bytes", image_size);
    assert_non_null(strstr(e.msg, sz));
    assert_non_null(strstr(e.msg, u));
    assert_int_equal(file_size(part), -1);

    write_part(part, 4096);
    o.max_bytes = 2048;
    before = requests(NULL);
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_INVALID);
    assert_int_equal(requests(NULL), before);
    assert_non_null(strstr(e.msg, "4096 bytes"));
    assert_non_null(strstr(e.msg, "2048 bytes"));
    assert_int_equal(file_size(part), -1);
}

/* The text form (nea_progress_text, what the CLI shows) of a slow download
 * and a cache hit, on a file: plain lines, about one per tenth. */
static void test_progress_lines(void **state)
{
    (void)state;
    int fd = scratch_fd();
    struct nea_fetch_opts o = opts();
    struct nea_progress_text text;
    show_progress_on(&o, &text, fd);
    NEA_AUTOFREE char *u = url("/slow");
    NEA_AUTOFREE char *path = NULL;
    char buf[8192];
    fetch_twice(&o, u, fd, buf, sizeof(buf), &path);
    assert_null(strchr(buf, '\r')); /* not a tty: plain lines */
    assert_null(strchr(buf, '\033'));
    int pct_lines = 0, last_pct = 0;
    char *done = NULL, *hit = NULL;
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
        assert_true(nea_str_has_prefix(l, u));
        const char *rest = l + strlen(u);
        int pct;
        if (sscanf(rest, ": %d%%", &pct) == 1) {
            assert_true(pct > last_pct && pct < 100);
            assert_non_null(strstr(rest, " of 4.0 MiB"));
            assert_non_null(strstr(rest, "/s, ETA "));
            last_pct = pct;
            pct_lines++;
        } else if (strstr(rest, ": done, 4.0 MiB in ")) {
            assert_non_null(strstr(rest, "sha256 verified"));
            done = l;
        } else if (strstr(rest, ": already in the cache")) {
            hit = l;
        } else {
            fail_msg("unexpected progress line: %s", l);
        }
    }
    /* about one line per tenth */
    assert_true(pct_lines >= 5 && pct_lines <= 10);
    assert_non_null(done);
    assert_non_null(hit);
    assert_true(hit > done);
}

/* The text form on a terminal: one bar, rewritten in place, and then the
 * "done" line. */
static void test_progress_tty(void **state)
{
    (void)state;
    int master = -1, slave = -1;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    struct nea_fetch_opts o = opts();
    struct nea_progress_text text;
    show_progress_on(&o, &text, slave);
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = url("/slow");
    NEA_AUTOFREE char *path = NULL;
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    close(slave);
    char buf[8192];
    size_t len = 0;
    for (;;) { /* until EIO: the slave side is closed */
        ssize_t n = read(master, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(master);
    buf[len] = '\0';
    NEA_AUTOFREE char *bar = nea_xasprintf("\r%s [", u);
    char *b = strstr(buf, bar);
    assert_non_null(b);
    assert_non_null(strstr(b, "100% 4.0 MiB of 4.0 MiB"));
    NEA_AUTOFREE char *done = nea_xasprintf("\n%s: done, 4.0 MiB", u);
    assert_non_null(strstr(b, done));
}

/* What fetch itself reports: events to the callback, nothing printed.
 * stderr is a file for the time of the test: nothing may reach it. */
struct events {
    int start, bytes, notes, done, cached, stopped;
    uint64_t last_done, done_size, total;
    bool rising;
    char note[256];
    char what[256];
};

static void record(void *data, const struct nea_progress *p)
{
    struct events *ev = data;
    snprintf(ev->what, sizeof(ev->what), "%s", p->what);
    switch (p->event) {
    case NEA_PROGRESS_START: ev->start++; ev->last_done = p->done; break;
    case NEA_PROGRESS_BYTES:
        ev->bytes++;
        if (p->done < ev->last_done || (p->total && p->done > p->total))
            ev->rising = false;
        ev->last_done = p->done;
        ev->total = p->total;
        break;
    case NEA_PROGRESS_NOTE: ev->notes++; break;
    case NEA_PROGRESS_DONE:
        ev->done++;
        ev->done_size = p->done;
        snprintf(ev->note, sizeof(ev->note), "%s", p->note ? p->note : "");
        break;
    case NEA_PROGRESS_CACHED:
        ev->cached++;
        snprintf(ev->note, sizeof(ev->note), "%s", p->note ? p->note : "");
        break;
    case NEA_PROGRESS_STOPPED: ev->stopped++; break;
    }
}

static void test_progress_events(void **state)
{
    (void)state;
    int fd = scratch_fd();
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);

    struct nea_fetch_opts o = opts();
    struct events ev = {.rising = true};
    o.progress = record;
    o.progress_data = &ev;
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = nea_xasprintf("http://alice:s3cret@127.0.0.1:%d/slow", port);
    NEA_AUTOFREE char *shown = url("/slow");
    NEA_AUTOFREE char *path = NULL;
    int rc1 = nea_fetch_image(u, image_sha, &o, &path, &e);
    struct events first = ev;
    NEA_AUTOFREE char *again = NULL;
    int rc2 = nea_fetch_image(u, image_sha, &o, &again, &e);
    /* a cut download: an attempt that stops */
    struct events cut = {.rising = true};
    o.progress_data = &cut;
    NEA_AUTOFREE char *c = url("/cut");
    NEA_AUTOFREE char *none = NULL;
    NEA_AUTOFREE char *final = cache_path("");
    unlink(final);
    int rc3 = nea_fetch_image(c, image_sha, &o, &none, &e);

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t printed = lseek(fd, 0, SEEK_END);
    close(fd);
    assert_int_equal(printed, 0);
    assert_int_equal(rc1, NEA_OK);
    assert_int_equal(rc2, NEA_OK);
    assert_int_equal(rc3, NEA_ERR_HOST);

    assert_int_equal(first.start, 1);
    assert_true(first.bytes >= 5);
    assert_true(first.rising);
    assert_int_equal(first.total, (uint64_t)image_size);
    assert_int_equal(first.done, 1);
    assert_int_equal(first.done_size, (uint64_t)image_size);
    assert_string_equal(first.note, "sha256 verified");
    assert_int_equal(first.cached + first.stopped, 0);
    assert_string_equal(first.what, shown); /* never the credentials */
    assert_int_equal(ev.cached, 1);
    assert_string_equal(ev.note, again);
    assert_int_equal(cut.start, 1);
    assert_int_equal(cut.stopped, 1);
    assert_int_equal(cut.done, 0);
}

static void test_tls(void **state)
{
    (void)state;
    if (!tls_port) /* the server could not make a certificate */
        fail_msg("no TLS server on 127.0.0.1: install openssl (scripts/dev.sh test does)");
    struct nea_fetch_opts o = opts();
    struct nea_err e = {0};
    NEA_AUTOFREE char *u = nea_xasprintf("https://127.0.0.1:%d/img", tls_port);
    NEA_AUTOFREE char *path = NULL;
    /* a self-signed certificate: refused with the system CAs */
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_HOST);
    assert_non_null(strstr(e.msg, "TLS"));
    assert_non_null(strstr(e.msg, u));
    NEA_AUTOFREE char *part = cache_path(".part");
    assert_int_equal(file_size(part), -1);

    o.ca_file = "/nonexistent/ca.pem";
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_ERR_IO);
    assert_non_null(strstr(e.msg, "/nonexistent/ca.pem"));

    o.ca_file = tls_cert;
    nea_err_clear(&e);
    /* trusted, but a redirect from https down to http is refused */
    NEA_AUTOFREE char *down = nea_xasprintf("https://127.0.0.1:%d/to-http", tls_port);
    assert_true(nea_fetch_image(down, image_sha, &o, &path, &e) < 0);
    assert_null(path);
    nea_err_clear(&e);
    /* and a certificate for 127.0.0.1 does not do for another name */
    NEA_AUTOFREE char *byname = nea_xasprintf("https://localhost:%d/img", tls_port);
    assert_int_equal(nea_fetch_image(byname, image_sha, &o, &path, &e), NEA_ERR_HOST);
    nea_err_clear(&e);
    assert_int_equal(nea_fetch_image(u, image_sha, &o, &path, &e), NEA_OK);
    assert_cached_image(path);
}

/* Two processes fetch the same image at once: one downloads, the other waits
 * on the lock and finds it in the cache. */
static void test_concurrent(void **state)
{
    (void)state;
    NEA_AUTOFREE char *u = url("/slow");
    int before = requests(NULL);
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            struct nea_fetch_opts o = opts();
            struct nea_err e = {0};
            char *path = NULL;
            int rc = nea_fetch_image(u, image_sha, &o, &path, &e);
            if (rc != NEA_OK)
                fprintf(stderr, "child %d: %s\n", i, e.msg);
            _exit(rc == NEA_OK ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st = 0;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(requests(NULL), before + 1);
    NEA_AUTOFREE char *path = cache_path("");
    assert_cached_image(path);
}

#define T(f) cmocka_unit_test_setup_teardown(f, cache_setup, cache_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_full_then_cached),
        T(test_resume_after_cut),
        T(test_server_ignores_range),
        T(test_range_not_satisfiable),
        T(test_resume_junk_part),
        T(test_checksum_mismatch),
        T(test_http_errors),
        T(test_stall),
        T(test_redirects),
        T(test_file_url),
        T(test_refused_input),
        T(test_bad_sha256),
        T(test_credentials_hidden),
        T(test_ambiguous_credentials),
        T(test_size_cap_announced),
        T(test_size_cap_chunked),
        T(test_size_cap_resume),
        T(test_progress_lines),
        T(test_progress_tty),
        T(test_progress_events),
        T(test_tls),
        T(test_concurrent),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
