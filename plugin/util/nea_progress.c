/*
 * nea_progress.c: the text form of transfer progress (nea_progress.h).
 * Writes only to the descriptor its caller gave it.
 */
#include "nea_progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "nea_util.h"

#define TTY_REFRESH_S 0.25
#define LINE_EVERY_S 5.0

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void nea_fmt_bytes(char *buf, size_t n, double v)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < NEA_ARRAY_SIZE(unit)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f B", v);
    else
        snprintf(buf, n, "%.1f %s", v, unit[u]);
}

static void fmt_eta(char *buf, size_t n, double s)
{
    unsigned long t = (unsigned long)(s + 0.5);
    if (t < 60)
        snprintf(buf, n, "%lus", t);
    else if (t < 3600)
        snprintf(buf, n, "%lum%02lus", t / 60, t % 60);
    else
        snprintf(buf, n, "%luh%02lum", t / 3600, t / 60 % 60);
}

void nea_progress_text_init(struct nea_progress_text *t, int fd)
{
    *t = (struct nea_progress_text){.fd = fd, .tty = fd >= 0 && isatty(fd)};
}

/* A line of its own, even while a bar is shown. */
static void line(struct nea_progress_text *t, const char *what, const char *text)
{
    dprintf(t->fd, "%s%s: %s\n", t->bar_shown ? "\n" : "", what, text);
    t->bar_shown = false;
}

static void show(struct nea_progress_text *t, const struct nea_progress *p, bool force)
{
    double now = mono_s();
    char got[32], tot[32], rt[32] = "-", eta[32];
    nea_fmt_bytes(got, sizeof(got), (double)p->done);
    nea_fmt_bytes(tot, sizeof(tot), (double)p->total);
    if (p->rate > 0)
        nea_fmt_bytes(rt, sizeof(rt), p->rate);
    int pct = p->total > 0 ? (int)(p->done * 100 / p->total) : -1;
    if (p->rate > 0 && p->total > p->done)
        fmt_eta(eta, sizeof(eta), (double)(p->total - p->done) / p->rate);
    else
        snprintf(eta, sizeof(eta), "-");

    if (t->tty) {
        if (!force && now - t->last < TTY_REFRESH_S)
            return;
        t->last = now;
        if (pct >= 0) {
            char bar[21];
            int fill = pct / 5;
            for (int i = 0; i < 20; i++)
                bar[i] = i < fill ? '=' : ' ';
            bar[20] = '\0';
            dprintf(t->fd, "\r%s [%s] %3d%% %s of %s, %s/s, ETA %s\033[K", p->what, bar,
                    pct, got, tot, rt, eta);
        } else {
            dprintf(t->fd, "\r%s %s, %s/s\033[K", p->what, got, rt);
        }
        t->bar_shown = true;
        return;
    }
    /* a resumed download starts its lines at the next tenth */
    if (t->decile < 0 && p->total > 0)
        t->decile = (int)(p->start * 10 / p->total);
    int dec = pct >= 0 ? pct / 10 : -1;
    bool step = dec > t->decile && dec < 10;
    if (!step && now - t->last < LINE_EVERY_S)
        return;
    t->last = now;
    if (dec > t->decile)
        t->decile = dec;
    if (pct >= 0)
        dprintf(t->fd, "%s: %d%%, %s of %s, %s/s, ETA %s\n", p->what, pct, got, tot, rt,
                eta);
    else
        dprintf(t->fd, "%s: %s, %s/s\n", p->what, got, rt);
}

void nea_progress_text(void *data, const struct nea_progress *p)
{
    struct nea_progress_text *t = data;
    if (t->fd < 0)
        return;
    char text[1536];
    switch (p->event) {
    case NEA_PROGRESS_START:
        t->last = mono_s();
        t->decile = -1; /* set from the kept bytes once the total is known */
        break;
    case NEA_PROGRESS_BYTES:
        show(t, p, false);
        break;
    case NEA_PROGRESS_NOTE:
        line(t, p->what, p->note ? p->note : "");
        break;
    case NEA_PROGRESS_DONE: {
        if (t->tty) {
            struct nea_progress whole = *p;
            whole.total = p->done;
            show(t, &whole, true);
        }
        char size[32];
        nea_fmt_bytes(size, sizeof(size), (double)p->done);
        snprintf(text, sizeof(text), "done, %s in %.1f s%s%s", size, p->elapsed_s,
                 p->note ? ", " : "", p->note ? p->note : "");
        line(t, p->what, text);
        break;
    }
    case NEA_PROGRESS_CACHED:
        snprintf(text, sizeof(text), "already in the cache (%s)", p->note ? p->note : "?");
        line(t, p->what, text);
        break;
    case NEA_PROGRESS_STOPPED:
        if (t->bar_shown)
            dprintf(t->fd, "\n");
        t->bar_shown = false;
        break;
    }
}
