/* The public header alone, as a C99 host compiles it (-std=c99 -pedantic
 * -Werror): no neaprov-internal header, no GNU extension. */
#include <neaprov/neaprov.h>

const struct neaprov_provider *nea_headertest(neaprov_provider_fn get);
const struct neaprov_provider *nea_headertest(neaprov_provider_fn get)
{
    const struct neaprov_provider *p = get(NEAPROV_ABI_VERSION);
    return p && NEAPROV_HAS(p, free) ? p : 0;
}
