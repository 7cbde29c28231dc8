/* xm_json.h: the one JSON string writer the tools' --json output shares. */
#ifndef XM_JSON_H
#define XM_JSON_H

#include <stdio.h>

/* Write s as a quoted JSON string (class names and paths are arbitrary
 * text: quotes, backslashes and control characters are escaped). */
void xm_json_str(FILE *f, const char *s);

#endif
