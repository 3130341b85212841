/*
 * nea_lock.h: exclusive locks on files (flock), with a bounded wait and a
 * record of who holds them.
 *
 * One way for every lock neaprov takes: the state layer's tenant and upload
 * locks and the image cache's per-image lock.  A lock file is never opened
 * through a symbolic link, is created 0600 (and made 0600 when it is ours
 * and looser), and is never removed (removing one lets a third process lock
 * a fresh inode while the second still holds the old one).  Whoever takes a
 * lock writes "PID COMMAND" into it, so that whoever cannot take it can say
 * who holds it.  Nothing here prints; the caller words a busy lock.
 */
#ifndef NEA_LOCK_H
#define NEA_LOCK_H

#include <limits.h>
#include <stdbool.h>

#include "nea_err.h"

/* nea_lock_take's timeout_s that waits as long as it takes */
#define NEA_LOCK_WAIT_FOREVER UINT_MAX

/* Words the NEA_ERR_BUSY sentence of a lock still held when the wait ends:
 * holder is who holds it, as the lock file says ("pid 4242, command
 * neaprov", "the lock file names pid N, command C, which has exited", "it
 * has not recorded its pid yet"; only a pid and a short printable command
 * are taken from the file).  Returns nea_err_set(err, NEA_ERR_BUSY, ...). */
typedef int nea_lock_busy_fn(void *data, const char *holder, struct nea_err *err);

/* Takes the exclusive lock of the file path (created 0600 if need be) and
 * sets *ret_fd to the descriptor that holds it until nea_unlock.  timeout_s
 * 0 tries once, NEA_LOCK_WAIT_FOREVER blocks, anything else waits up to that
 * many seconds (flock cannot wait with a bound: it polls, backing off from
 * 10 ms to 0.2 s).  Then NEA_ERR_BUSY, worded by busy (NULL: a sentence
 * naming path and the holder); NEA_ERR_IO when the file cannot be opened,
 * made private or locked. */
int nea_lock_take(const char *path, unsigned timeout_s, nea_lock_busy_fn *busy,
                  void *busy_data, int *ret_fd, struct nea_err *err);

/* Closes fd, which releases its lock; -1 is none. */
void nea_unlock(int fd);

/* A regular file of ours that others may read or write is made 0600; a
 * file of another user (root running on a user's files) is left alone, and
 * so is anything but a regular file.  fd may be an O_PATH descriptor (the
 * mode is then changed through /proc/self/fd).  what names the file in
 * messages ("lock file", "state database"). */
int nea_make_private(int fd, const char *path, const char *what, struct nea_err *err);

#endif
