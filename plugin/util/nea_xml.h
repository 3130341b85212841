/*
 * nea_xml.h: what every layer that reads or writes XML through libxml2
 * shares: neaprov's XML namespace (the <metadata> element render writes
 * into the domain and virt reads back) and the cleanup functions of
 * libxml2's handles.  Header only; nothing here parses or prints.
 */
#ifndef NEA_XML_H
#define NEA_XML_H

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xmlmemory.h>

#include "nea_util.h"

/* The namespace of neaprov's element in a domain's <metadata>, and the
 * prefix render gives it. */
#define NEA_XMLNS "urn:neaprov:appliance:1"
#define NEA_XMLNS_PREFIX "neaprov"

NEA_DEFINE_CLEANUP_NAMED(nea_xml_doc_freep, xmlDocPtr, xmlFreeDoc)
NEA_DEFINE_CLEANUP_NAMED(nea_xml_ctxt_freep, xmlParserCtxtPtr, xmlFreeParserCtxt)
NEA_DEFINE_CLEANUP_NAMED(nea_xml_uri_freep, xmlURIPtr, xmlFreeURI)
/* a string libxml2 allocated (xmlGetProp, xmlNodeGetContent, ...) */
NEA_DEFINE_CLEANUP_NAMED(nea_xml_strp, char *, xmlFree)

#endif
