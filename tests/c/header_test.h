/* Compiled alone with -pedantic -Werror as C11 and C++11: the public header
 * must need nothing but itself. */
#include <splicer.h>
#include <splicer.h> /* include guard */
