/*
 * nea_uri.h: the libvirt host URIs neaprov agrees to open.
 *
 * A libvirt URI is more than an address: its transport and parameters can
 * make libvirt run a local program (qemu+ext://...?command=, ssh's
 * command=), read a local file (test:///PATH, keyfile=, pkipath=) or hand
 * the daemon another URI (name=).  Every URI that reaches libvirt therefore
 * passes this one allow-list first: the plan loader (field host), the CLI's
 * -c, the plugin ABI (options.uri, networks' uri) and nea_host_open itself.
 * The rules and the reason for each are in nea_uri.c and docs/spec.md.
 */
#ifndef NEA_URI_H
#define NEA_URI_H

#include "nea_err.h"

/* Set to "1" (tests only): test:///PATH and other test URIs are allowed. */
#define NEA_ALLOW_TEST_URI_ENV "NEAPROV_ALLOW_TEST_URI"

/*
 * Checks uri against the allow-list.  what names the URI in messages
 * ("host", "-c", "options.uri").  Returns NEA_OK, or NEA_ERR_INVALID with a
 * whole sentence in err naming the URI and the rule it breaks; the sentence
 * never holds anything but the URI itself.  On NEA_OK, *ret_warning (when
 * ret_warning is not NULL) is a newly allocated sentence for a URI that is
 * allowed but weak (the unencrypted tcp transport, host verification turned
 * off), else NULL.
 */
int nea_host_uri_check(const char *what, const char *uri, char **ret_warning,
                       struct nea_err *err);

#endif
