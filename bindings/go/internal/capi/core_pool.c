//go:build !splicer_system

// cgo compiles only the .c files of the package's own directory; this one
// builds the vendored core source of the same name (see scripts/sync).
#include "core/src/pool.c"
