//go:build !splicer_system

package capi

// The core's sources use splice(2), tee(2) and friends, which glibc declares
// only under _GNU_SOURCE.  SPLICER_NO_VISIBILITY: the core is linked into
// the Go binary, so there is no shared-library symbol table to shape.

// #cgo CFLAGS: -D_GNU_SOURCE -DSPLICER_NO_VISIBILITY -I${SRCDIR}/core/include -I${SRCDIR}/core/src
import "C"
