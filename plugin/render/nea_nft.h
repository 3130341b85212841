/*
 * nea_nft.h: the appliance's nftables ruleset: the DNAT of its public IP
 * rules and, with tenant networks, what it forwards and their source NAT.
 *
 * nftables has no library among our dependencies and its input is a text
 * language: the ruleset is written here from validated values only
 * (addresses through inet_ntop, ports as numbers, the protocol an enum, the
 * description restricted to [A-Za-z0-9 ._,:/-] by the pool layer).
 * Golden files in tests/data/render/ and `nft -c -f` check it.
 */
#ifndef NEA_NFT_H
#define NEA_NFT_H

#include "nea_model.h"

#define NEA_NFT_PATH "/etc/neaprov/public-ip-rules.nft"

/* Newly allocated.  Reloading it replaces the previous ruleset whole. */
char *nea_nft_ruleset(const struct nea_spec *s);

#endif
