/*
 * nea_addr.h: IPv4/IPv6 address maths on top of inet_pton/inet_ntop.
 *
 * Pure functions, no allocation, no I/O: the spec validator and (later) the
 * public IP pool both build on these.
 */
#ifndef NEA_ADDR_H
#define NEA_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define NEA_IP_STRLEN 46 /* INET6_ADDRSTRLEN */

struct nea_ip {
    int family;      /* AF_INET or AF_INET6 */
    uint8_t b[16];   /* network byte order; IPv4 uses b[0..3] */
};

enum nea_ip_kind {
    NEA_IP_UNICAST,
    NEA_IP_UNSPECIFIED,   /* 0.0.0.0, :: */
    NEA_IP_LOOPBACK,      /* 127.0.0.0/8, ::1 */
    NEA_IP_MULTICAST,     /* 224.0.0.0/4, ff00::/8 */
    NEA_IP_LINK_LOCAL,    /* 169.254.0.0/16, fe80::/10 */
    NEA_IP_RESERVED,      /* 240.0.0.0/4 (incl. 255.255.255.255), 0.0.0.0/8 */
    NEA_IP_V4_MAPPED,     /* ::ffff:0:0/96 */
};

/* Parses one literal address (no prefix, no zone).  Returns the family
 * (AF_INET or AF_INET6) or -1 when s is neither. */
int nea_ip_parse(const char *s, struct nea_ip *ret_ip);
void nea_ip_format(const struct nea_ip *ip, char out[NEA_IP_STRLEN]);
unsigned nea_ip_bits(int family);
/* The prefix length of a dotted netmask, or -1 when the mask is not
 * contiguous ones followed by zeros. */
int nea_netmask_prefix(const struct nea_ip *mask);
void nea_prefix_netmask(int family, unsigned prefix, struct nea_ip *ret_mask);
/* ip with the host bits cleared (network) or set (broadcast). */
void nea_ip_network(const struct nea_ip *ip, unsigned prefix, struct nea_ip *ret_net);
void nea_ip_broadcast(const struct nea_ip *ip, unsigned prefix, struct nea_ip *ret_bcast);
bool nea_ip_equal(const struct nea_ip *a, const struct nea_ip *b);
int nea_ip_cmp(const struct nea_ip *a, const struct nea_ip *b);
bool nea_ip_in_subnet(const struct nea_ip *ip, const struct nea_ip *net,
                      unsigned prefix);
enum nea_ip_kind nea_ip_kind(const struct nea_ip *ip);

/* ip + 1 (or - 1); returns false on wrap-around past the family's end. */
bool nea_ip_next(struct nea_ip *ip);
bool nea_ip_prev(struct nea_ip *ip);
/* Number of addresses in [first, last], saturating at UINT64_MAX. */
uint64_t nea_ip_span(const struct nea_ip *first, const struct nea_ip *last);

/* "A", "A-B" or "A/P" (CIDR, all of it) into [first, last]; NULL on
 * success, else a static description of what is wrong. */
const char *nea_ip_range_parse(const char *s, struct nea_ip *ret_first,
                               struct nea_ip *ret_last);
const char *nea_ip_kind_name(enum nea_ip_kind k);

#endif
