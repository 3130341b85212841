/*
 * nea_addr.c: address maths.  Parsing and printing go through inet_pton and
 * inet_ntop only; everything else is bit work on the 16-byte form.
 */
#include "nea_addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nea_ip_parse(const char *s, struct nea_ip *ret_ip)
{
    struct nea_ip ip = {0};
    if (inet_pton(AF_INET, s, ip.b) == 1)
        ip.family = AF_INET;
    else if (inet_pton(AF_INET6, s, ip.b) == 1)
        ip.family = AF_INET6;
    else
        return -1;
    *ret_ip = ip;
    return ip.family;
}

void nea_ip_format(const struct nea_ip *ip, char out[NEA_IP_STRLEN])
{
    if (!inet_ntop(ip->family, ip->b, out, NEA_IP_STRLEN))
        snprintf(out, NEA_IP_STRLEN, "?");
}

unsigned nea_ip_bits(int family)
{
    return family == AF_INET ? 32 : 128;
}

static void apply_prefix(const struct nea_ip *ip, unsigned prefix, bool set_host,
                         struct nea_ip *ret_ip)
{
    struct nea_ip r = *ip;
    unsigned nbytes = nea_ip_bits(ip->family) / 8;
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned first = i * 8;
        uint8_t hostmask;
        if (prefix >= first + 8)
            hostmask = 0;
        else if (prefix <= first)
            hostmask = 0xff;
        else
            hostmask = (uint8_t)(0xff >> (prefix - first));
        r.b[i] = set_host ? (uint8_t)(r.b[i] | hostmask)
                          : (uint8_t)(r.b[i] & ~hostmask);
    }
    *ret_ip = r;
}

void nea_ip_network(const struct nea_ip *ip, unsigned prefix, struct nea_ip *ret_net)
{
    apply_prefix(ip, prefix, false, ret_net);
}

void nea_ip_broadcast(const struct nea_ip *ip, unsigned prefix, struct nea_ip *ret_bcast)
{
    apply_prefix(ip, prefix, true, ret_bcast);
}

void nea_prefix_netmask(int family, unsigned prefix, struct nea_ip *ret_mask)
{
    struct nea_ip ones = {.family = family};
    memset(ones.b, 0xff, nea_ip_bits(family) / 8);
    apply_prefix(&ones, prefix, false, ret_mask);
}

int nea_netmask_prefix(const struct nea_ip *mask)
{
    unsigned nbits = nea_ip_bits(mask->family);
    unsigned prefix = 0;
    while (prefix < nbits && (mask->b[prefix / 8] & (0x80 >> (prefix % 8))))
        prefix++;
    for (unsigned i = prefix; i < nbits; i++)
        if (mask->b[i / 8] & (0x80 >> (i % 8)))
            return -1;
    return (int)prefix;
}

bool nea_ip_equal(const struct nea_ip *a, const struct nea_ip *b)
{
    return nea_ip_cmp(a, b) == 0;
}

int nea_ip_cmp(const struct nea_ip *a, const struct nea_ip *b)
{
    if (a->family != b->family)
        return a->family == AF_INET ? -1 : 1;
    return memcmp(a->b, b->b, nea_ip_bits(a->family) / 8);
}

bool nea_ip_in_subnet(const struct nea_ip *ip, const struct nea_ip *net,
                      unsigned prefix)
{
    if (ip->family != net->family)
        return false;
    struct nea_ip a, b;
    nea_ip_network(ip, prefix, &a);
    nea_ip_network(net, prefix, &b);
    return nea_ip_equal(&a, &b);
}

enum nea_ip_kind nea_ip_kind(const struct nea_ip *ip)
{
    const uint8_t *b = ip->b;
    if (ip->family == AF_INET) {
        if (!b[0] && !b[1] && !b[2] && !b[3])
            return NEA_IP_UNSPECIFIED;
        if (b[0] == 0)
            return NEA_IP_RESERVED;
        if (b[0] == 127)
            return NEA_IP_LOOPBACK;
        if (b[0] == 169 && b[1] == 254)
            return NEA_IP_LINK_LOCAL;
        if ((b[0] & 0xf0) == 0xe0)
            return NEA_IP_MULTICAST;
        if ((b[0] & 0xf0) == 0xf0)
            return NEA_IP_RESERVED;
        return NEA_IP_UNICAST;
    }
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(b, zero, 16))
        return NEA_IP_UNSPECIFIED;
    if (!memcmp(b, zero, 15) && b[15] == 1)
        return NEA_IP_LOOPBACK;
    if (b[0] == 0xff)
        return NEA_IP_MULTICAST;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return NEA_IP_LINK_LOCAL;
    if (!memcmp(b, mapped, 12))
        return NEA_IP_V4_MAPPED;
    return NEA_IP_UNICAST;
}

bool nea_ip_next(struct nea_ip *ip)
{
    for (int i = (int)nea_ip_bits(ip->family) / 8 - 1; i >= 0; i--)
        if (++ip->b[i] != 0)
            return true;
    return false;
}

bool nea_ip_prev(struct nea_ip *ip)
{
    for (int i = (int)nea_ip_bits(ip->family) / 8 - 1; i >= 0; i--)
        if (ip->b[i]-- != 0)
            return true;
    return false;
}

uint64_t nea_ip_span(const struct nea_ip *first, const struct nea_ip *last)
{
    unsigned n = nea_ip_bits(first->family) / 8;
    /* difference as a big-endian subtraction; any borrow into the bytes
     * above the low 8 means more than 2^64 */
    uint8_t d[16];
    int borrow = 0;
    for (int i = (int)n - 1; i >= 0; i--) {
        int v = last->b[i] - first->b[i] - borrow;
        borrow = v < 0;
        d[i] = (uint8_t)(v + (borrow ? 256 : 0));
    }
    if (borrow)
        return 0;
    uint64_t lo = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i + 8 < n && d[i])
            return UINT64_MAX;
        if (i + 8 >= n)
            lo = lo << 8 | d[i];
    }
    return lo == UINT64_MAX ? lo : lo + 1;
}

/* The range s names, or why it names none (first and last left alone). */
static const char *range_parse(const char *s, struct nea_ip *first, struct nea_ip *last)
{
    char buf[128];
    if (strlen(s) >= sizeof(buf))
        return "is too long";
    snprintf(buf, sizeof(buf), "%s", s);
    char *dash = strchr(buf, '-'), *slash = strchr(buf, '/');
    if (dash && slash)
        return "mixes a range and a prefix";
    if (slash) {
        *slash = '\0';
        if (nea_ip_parse(buf, first) < 0)
            return "is not a valid address/prefix";
        char *end = NULL;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || p > nea_ip_bits(first->family))
            return "has an invalid prefix length";
        struct nea_ip net;
        nea_ip_network(first, (unsigned)p, &net);
        if (!nea_ip_equal(&net, first))
            return "has host bits set after the prefix";
        nea_ip_broadcast(first, (unsigned)p, last);
        return NULL;
    }
    if (dash) {
        *dash = '\0';
        if (nea_ip_parse(buf, first) < 0 || nea_ip_parse(dash + 1, last) < 0)
            return "is not a valid first-last range";
        if (first->family != last->family)
            return "mixes IPv4 and IPv6";
        if (nea_ip_cmp(first, last) > 0)
            return "has its first address after its last";
        return NULL;
    }
    if (nea_ip_parse(buf, first) < 0)
        return "is not a valid IP address";
    *last = *first;
    return NULL;
}

const char *nea_ip_range_parse(const char *s, struct nea_ip *ret_first,
                               struct nea_ip *ret_last)
{
    struct nea_ip first, last;
    const char *why = range_parse(s, &first, &last);
    if (!why) {
        *ret_first = first;
        *ret_last = last;
    }
    return why;
}

const char *nea_ip_kind_name(enum nea_ip_kind k)
{
    switch (k) {
    case NEA_IP_UNICAST: return "a unicast address";
    case NEA_IP_UNSPECIFIED: return "the unspecified address";
    case NEA_IP_LOOPBACK: return "a loopback address";
    case NEA_IP_MULTICAST: return "a multicast address";
    case NEA_IP_LINK_LOCAL: return "a link-local address";
    case NEA_IP_RESERVED: return "a reserved address";
    case NEA_IP_V4_MAPPED: return "an IPv4-mapped IPv6 address";
    }
    return "an unknown kind of address";
}
