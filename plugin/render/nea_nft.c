/*
 * nea_nft.c: see nea_nft.h.
 */
#include "nea_nft.h"

#include <stdio.h>
#include <stdlib.h>

char *nea_nft_ruleset(const struct nea_spec *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fprintf(f, "#!/usr/sbin/nft -f\n"
               "# Public IP rules of tenant %s, written by neaprov: public address\n"
               "# and port -> replica address and port.  Generated; edits are lost.\n"
               "table inet neaprov\n"
               "delete table inet neaprov\n"
               "table inet neaprov {\n"
               "    chain prerouting {\n"
               "        type nat hook prerouting priority dstnat; policy accept;\n",
            s->tenant);
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct nea_rule *r = &s->rules[i];
        char pub[NEA_IP_STRLEN], to[NEA_IP_STRLEN];
        nea_ip_format(&r->pub, pub);
        nea_ip_format(&r->to, to);
        bool v6 = r->pub.family == AF_INET6;
        const char *proto = nea_proto_name(r->proto);
        fprintf(f, "        %s daddr %s %s dport %u dnat %s to %s%s%s:%u", v6 ? "ip6" : "ip",
                pub, proto, r->pub_port, v6 ? "ip6" : "ip", v6 ? "[" : "", to,
                v6 ? "]" : "", r->to_port);
        if (r->description)
            fprintf(f, " comment \"%s\"", r->description);
        fputc('\n', f);
    }
    fprintf(f, "    }\n}\n");
    fclose(f);
    return buf;
}
