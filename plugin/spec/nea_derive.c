/*
 * nea_derive.c: the values a spec does not have to give: the derived MAC and
 * UUID, and the hash over the canonical text; and what the engine pins or
 * sets after a load (the deployment's MAC and UUID, the pool's addresses and
 * rules), each followed by a new hash.
 *
 * Deterministic: everything comes from the spec and its plan (see
 * docs/architecture.md, Determinism).  Must not read files, the clock or a
 * random source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_spec.h"
#include "nea_spec_int.h"
#include "nea_util.h"

static void rehash(struct nea_spec *s)
{
    uint8_t h[NEA_SHA256_LEN];
    NEA_AUTOFREE char *canon = nea_spec_canonical(s);
    nea_sha256(canon, strlen(canon), h);
    nea_hex(h, sizeof(h), s->hash);
}

/* Locally stable: the same host and name always give the same MAC, so
 * network-config can match it before the domain exists.  salt > 0 gives
 * another one, for when that MAC is taken on the host. */
static void derive_mac(struct nea_spec *s, unsigned salt)
{
    uint8_t h[NEA_SHA256_LEN];
    char tail[16] = "";
    if (salt)
        snprintf(tail, sizeof(tail), "%c%u", 0, salt);
    size_t tl = salt ? 1 + strlen(tail + 1) : 0;
    NEA_AUTOFREE char *in = nea_xasprintf("neaprov-mac%c%s%c%s", 0, s->plan->host, 0,
                                          s->name);
    size_t n = strlen("neaprov-mac") + 1 + strlen(s->plan->host) + 1 + strlen(s->name);
    in = nea_xrealloc(in, n + tl + 1);
    memcpy(in + n, tail, tl);
    nea_sha256(in, n + tl, h);
    s->mac[0] = 0x52;
    s->mac[1] = 0x54;
    s->mac[2] = 0x00;
    s->mac[3] = h[0] & 0x7f; /* keep clear of libvirt's 52:54:00:fe:... */
    s->mac[4] = h[1];
    s->mac[5] = h[2];
}

void nea_tnet_derive_mac(const char *tenant, const char *name, unsigned salt, uint8_t mac[6])
{
    uint8_t h[NEA_SHA256_LEN];
    NEA_AUTOFREE char *in = nea_xasprintf("neaprov-tnet-mac %s %s %u", tenant, name, salt);
    nea_sha256(in, strlen(in), h);
    mac[0] = 0x52;
    mac[1] = 0x54;
    mac[2] = 0x00;
    mac[3] = (uint8_t)(0x80 + h[0] % 0x7e);
    mac[4] = h[1];
    mac[5] = h[2];
}

/* Each tenant network's vNIC: from tenant and network name, so that it
 * stays when anything else changes; 52:54:00 with the fourth byte in
 * 0x80-0xfd, apart from the external vNIC's (0x00-0x7f) and libvirt's
 * 52:54:00:fe; never two alike on one appliance. */
static void derive_tnet_macs(struct nea_spec *s)
{
    for (size_t i = 0; i < s->n_tnets; i++) {
        struct nea_tnet *t = &s->tnets[i];
        for (unsigned salt = 0;; salt++) {
            nea_tnet_derive_mac(s->tenant, t->name, salt, t->mac);
            /* the external vNIC's MAC, given or pinned from a record:
             * never shared (derived ones cannot meet: 0x00-0x7f) */
            bool dup = !memcmp(s->mac, t->mac, 6);
            for (size_t j = 0; j < i; j++)
                dup |= !memcmp(s->tnets[j].mac, t->mac, 6);
            if (!dup)
                break;
        }
    }
}

void nea_spec_set_tnet_places(struct nea_spec *s, const unsigned *slots,
                              const unsigned *vlans)
{
    for (size_t i = 0; i < s->n_tnets; i++) {
        s->tnets[i].slot = slots[i];
        s->tnets[i].vlan = vlans ? vlans[i] : 0;
    }
    rehash(s);
}

void nea_spec_derive(struct nea_spec *s)
{
    uint8_t h[NEA_SHA256_LEN];
    derive_tnet_macs(s);
    if (!s->mac_given)
        derive_mac(s, 0);
    if (!s->uuid_given) {
        NEA_AUTOFREE char *in = nea_xasprintf("neaprov-uuid%c%s%c%s", 0, s->tenant, 0,
                                              s->name);
        size_t n = strlen("neaprov-uuid") + 1 + strlen(s->tenant) + 1 + strlen(s->name);
        nea_sha256(in, n, h);
        memcpy(s->uuid, h, 16);
        s->uuid[6] = (uint8_t)((s->uuid[6] & 0x0f) | 0x80); /* RFC 9562 version 8 */
        s->uuid[8] = (uint8_t)((s->uuid[8] & 0x3f) | 0x80);
    }
    rehash(s);
}

void nea_spec_derive_mac(struct nea_spec *s, unsigned salt)
{
    if (s->mac_given)
        return;
    derive_mac(s, salt);
    rehash(s);
}

void nea_spec_pin(struct nea_spec *s, const uint8_t *mac, const uint8_t *uuid)
{
    if (mac && !s->mac_given)
        memcpy(s->mac, mac, 6);
    if (uuid && !s->uuid_given)
        memcpy(s->uuid, uuid, 16);
    derive_tnet_macs(s); /* apart from the pinned external MAC */
    rehash(s);
}

void nea_spec_set_public(struct nea_spec *s, const struct nea_ip *addrs, size_t n_addrs,
                         const struct nea_rule *rules, size_t n_rules)
{
    nea_spec_clear_public(s);
    s->public_addrs = n_addrs ? nea_xcalloc(n_addrs, sizeof(*addrs)) : NULL;
    if (n_addrs)
        memcpy(s->public_addrs, addrs, n_addrs * sizeof(*addrs));
    s->n_public_addrs = n_addrs;
    s->rules = n_rules ? nea_xcalloc(n_rules, sizeof(*rules)) : NULL;
    for (size_t i = 0; i < n_rules; i++) {
        s->rules[i] = rules[i];
        s->rules[i].description = rules[i].description ? nea_xstrdup(rules[i].description)
                                                       : NULL;
    }
    s->n_rules = n_rules;
    rehash(s);
}
