#include "internal.h"

unsigned splicer_version_number(void) { return SPLICER_VERSION_NUMBER; }

const char *splicer_version_string(void) { return SPLICER_VERSION_STRING; }
