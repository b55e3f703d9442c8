//go:build splicer_system

package capi

// With the splicer_system build tag the package links the libsplicer
// installed on the system (found by pkg-config) instead of compiling the
// vendored core.

// #cgo pkg-config: splicer
import "C"
