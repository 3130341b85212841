/*
 * nea_ready.c: waiting until an appliance answers: a TCP connect to its
 * management port on its static address, or on the addresses the host
 * learns for its MAC.
 *
 * Touches no host object.
 */
#include "nea_engine_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nea_util.h"

/* TCP connect to the appliance's management port: the guest is up, its
 * network configured from the seed, and sshd listening. */
static bool tcp_probe(const struct nea_ip *ip, unsigned port, int timeout_ms)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (ip->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        memcpy(&a->sin_addr, ip->b, 4);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        memcpy(&a->sin6_addr, ip->b, 16);
        len = sizeof(*a);
    }
    int fd = socket(ip->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = false;
    if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout_ms) == 1) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
        }
    }
    close(fd);
    return ok;
}

int nea_wait_ready(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err)
{
    const struct nea_spec *s = c->spec;
    if (nea_host_is_test(c->host))
        return NEA_OK; /* nothing boots in the test driver: running is ready */
    const struct nea_ip *ip = s->ipv4.mode == NEA_V4_STATIC   ? &s->ipv4.address
                              : s->ipv6.mode == NEA_V6_STATIC ? &s->ipv6.address
                                                              : NULL;
    /* DHCP/SLAAC: the addresses the guest agent or an ARP table reports for
     * our MAC, asked again each round (a lease may change, an ARP entry may
     * be stale), each probed the same way */
    bool learned_any = false;
    char mac[18];
    nea_mac_format(s->mac, mac);
    nea_engine_progress(e, s->tenant, "wait-ready", 99);
    /* while no source has answered at all, wait this long before settling
     * for "running" (an image without a guest agent on a bridge where the
     * host learns no ARP entry) */
    unsigned grace = e->opts.ready_timeout_s < 180 ? e->opts.ready_timeout_s : 180;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        time_t elapsed = now.tv_sec - t0.tv_sec;
        if (!ip) {
            NEA_AUTOFREE char *addrs = NULL;
            struct nea_err scratch = {0};
            int arc = nea_host_dom_addresses(c->host, s->name, mac, &addrs, &scratch);
            if (arc == NEA_ERR_UNSUPPORTED ||
                (arc == NEA_ERR_BUSY && !learned_any && elapsed >= (time_t)grace)) {
                /* nothing can tell the address: running is all we know */
                nea_state_event(e->state, s->tenant, "readiness", scratch.msg, NULL);
                return NEA_OK;
            }
            if (arc < 0 && arc != NEA_ERR_BUSY) /* the domain is gone, the host lost */
                return nea_err_set(err, arc, "%s", scratch.msg);
            for (char *save = NULL, *a = addrs ? strtok_r(addrs, " ", &save) : NULL; a;
                 a = strtok_r(NULL, " ", &save)) {
                struct nea_ip cand;
                if (nea_ip_parse(a, &cand) <= 0)
                    continue;
                learned_any = true;
                if (tcp_probe(&cand, 22, 1000))
                    return NEA_OK;
            }
        } else if (tcp_probe(ip, 22, 1000)) {
            return NEA_OK;
        }
        if (elapsed >= (time_t)e->opts.ready_timeout_s)
            break;
        sleep(1);
    }
    if (!ip && !learned_any)
        return nea_err_set(err, NEA_ERR_TIMEOUT, "appliance %s is running but no address "
                           "of it (MAC %s) became known within %u s (no guest agent "
                           "answer and no ARP entry on the host); check DHCP on the "
                           "external network", s->name, mac, e->opts.ready_timeout_s);
    if (!ip)
        return nea_err_set(err, NEA_ERR_TIMEOUT, "appliance %s is running but did not "
                           "answer on port 22 of any address reported for MAC %s within "
                           "%u s; check the bridge, the addresses and the console log",
                           s->name, mac, e->opts.ready_timeout_s);
    char a[NEA_IP_STRLEN];
    nea_ip_format(ip, a);
    return nea_err_set(err, NEA_ERR_TIMEOUT, "appliance %s is running but did not "
                       "answer on %s port 22 within %u s; check the bridge, the "
                       "addresses and the console log", s->name, a,
                       e->opts.ready_timeout_s);
}
