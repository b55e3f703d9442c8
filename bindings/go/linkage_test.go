package splicer_test

import (
	"os"
	"strings"
	"testing"

	"splicer.dev/splicer"
	"splicer.dev/splicer/internal/capi"
)

// sharedLibraryMapped reports whether a libsplicer shared object is mapped
// into the process.
func sharedLibraryMapped(t *testing.T) bool {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps")
	}
	return strings.Contains(string(maps), "/libsplicer.so")
}

// The default build compiles the vendored core into the program; the
// splicer_system build tag links the installed shared library instead.
func TestLinkage(t *testing.T) {
	if got, want := sharedLibraryMapped(t), systemBuild; got != want {
		t.Fatalf("libsplicer.so mapped: %v, want %v (splicer_system build: %v)", got, want, systemBuild)
	}
	if splicer.Version() != capi.VersionString {
		t.Fatalf("linked library %s, header %s", splicer.Version(), capi.VersionString)
	}
}
