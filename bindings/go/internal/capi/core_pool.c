//go:build !splicer_system

// cgo compiles only the .c files of the package's own directory; this one
// builds the vendored core source of the same name (scripts/sync writes it).
// Core digest ca5e669e65200aed: Go's build cache does not see the included file
// change, the digest does.
#include "core/src/pool.c"
