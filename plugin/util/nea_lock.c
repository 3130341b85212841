/*
 * nea_lock.c: flock-based locks with a bounded wait and a holder record
 * (nea_lock.h).  No printing; the sentences for a busy lock are the
 * caller's.
 */
#include "nea_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nea_util.h"

/* Every record has the same length, so a holder overwrites its
 * predecessor's in one write and a reader never sees half of each. */
enum { LOCK_RECORD_LEN = 80 };

int nea_make_private(int fd, const char *path, const char *what, struct nea_err *err)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot stat the %s: %s", path, what,
                           strerror(errno));
    if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() || !(sb.st_mode & 077))
        return NEA_OK;
    int r = fchmod(fd, 0600);
    if (r < 0 && errno == EBADF) {
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        r = chmod(proc, 0600);
    }
    if (r < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot make the %s private: %s", path,
                           what, strerror(errno));
    return NEA_OK;
}

static int lock_open(const char *path, int *ret_fd, struct nea_err *err)
{
    /* never through a symbolic link: the file is ours, beside what it locks */
    NEA_AUTO(nea_closep) int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                                       0600);
    if (fd < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot create lock file: %s", path,
                           strerror(errno));
    int rc = nea_make_private(fd, path, "lock file", err);
    if (rc < 0)
        return rc;
    *ret_fd = TAKE_FD(fd);
    return NEA_OK;
}

/* "PID COMMAND" of this process into its lock file (best effort: a lock
 * that cannot say who holds it still locks). */
static void lock_record(int fd)
{
    char comm[32] = "";
    int cfd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (cfd >= 0) {
        ssize_t n = read(cfd, comm, sizeof(comm) - 1);
        comm[n > 0 ? n : 0] = '\0';
        comm[strcspn(comm, "\n")] = '\0';
        close(cfd);
    }
    char rec[LOCK_RECORD_LEN];
    memset(rec, ' ', sizeof(rec));
    char head[LOCK_RECORD_LEN];
    int n = snprintf(head, sizeof(head), "%ld %s", (long)getpid(), *comm ? comm : "?");
    memcpy(rec, head, n > 0 && n < LOCK_RECORD_LEN ? (size_t)n : 0);
    rec[LOCK_RECORD_LEN - 1] = '\n';
    if (pwrite(fd, rec, sizeof(rec), 0) < 0)
        return; /* the lock holds all the same */
}

/* Who holds the lock of fd, as its record says. */
static char *lock_holder(int fd)
{
    char buf[LOCK_RECORD_LEN + 1];
    ssize_t n = pread(fd, buf, LOCK_RECORD_LEN, 0);
    buf[n > 0 ? n : 0] = '\0';
    char *end = buf;
    long pid = 0;
    if (buf[0] >= '1' && buf[0] <= '9') {
        errno = 0;
        pid = strtol(buf, &end, 10);
        if (errno || *end != ' ' || pid <= 0 || pid > 0x3fffffff)
            pid = 0;
    }
    if (!pid)
        return nea_xstrdup("it has not recorded its pid yet");
    char comm[33];
    size_t len = 0;
    for (const char *p = end + 1; *p && *p != '\n' && len < sizeof(comm) - 1; p++)
        comm[len++] = *p >= ' ' && *p < 0x7f ? *p : '?';
    while (len && comm[len - 1] == ' ')
        len--; /* the record's padding */
    comm[len] = '\0';
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return nea_xasprintf("the lock file names pid %ld, command %s, which has "
                             "exited", pid, len ? comm : "?");
    return nea_xasprintf("pid %ld, command %s", pid, len ? comm : "?");
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the lock of fd; *ret_locked false when another holds it still
 * at the end. */
static int lock_wait(int fd, const char *path, unsigned timeout_s, bool *ret_locked,
                     struct nea_err *err)
{
    bool forever = timeout_s == NEA_LOCK_WAIT_FOREVER;
    int64_t deadline = monotonic_ms() + (forever ? 0 : (int64_t)timeout_s * 1000);
    int64_t pause_ms = 10;
    while (flock(fd, forever ? LOCK_EX : LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return nea_err_set(err, NEA_ERR_IO, "%s: cannot lock: %s", path,
                               strerror(errno));
        /* flock cannot wait with a bound: poll, backing off up to 0.2 s */
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) {
            *ret_locked = false;
            return NEA_OK;
        }
        int64_t ms = pause_ms < left ? pause_ms : left;
        struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
                              .tv_nsec = (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        pause_ms = pause_ms * 2 > 200 ? 200 : pause_ms * 2;
    }
    lock_record(fd);
    *ret_locked = true;
    return NEA_OK;
}

int nea_lock_take(const char *path, unsigned timeout_s, nea_lock_busy_fn *busy,
                  void *busy_data, int *ret_fd, struct nea_err *err)
{
    NEA_AUTO(nea_closep) int fd = -1;
    int rc = lock_open(path, &fd, err);
    if (rc < 0)
        return rc;
    bool locked = false;
    rc = lock_wait(fd, path, timeout_s, &locked, err);
    if (rc < 0)
        return rc;
    if (!locked) {
        NEA_AUTOFREE char *holder = lock_holder(fd);
        if (busy)
            return busy(busy_data, holder, err);
        return nea_err_set(err, NEA_ERR_BUSY, "busy: another process (%s) holds the "
                           "lock %s", holder, path);
    }
    *ret_fd = TAKE_FD(fd);
    return NEA_OK;
}

void nea_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}
