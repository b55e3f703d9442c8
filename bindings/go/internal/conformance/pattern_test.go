package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The reference values of tests/README.md §2.
func TestPatternAndHash(t *testing.T) {
	for _, c := range []struct {
		spec, first, hash string
	}{
		{`{"size": 0}`, "", "cbf29ce484222325"},
		{`{"size": 8, "seed": 1}`, "0162c2058614045c", "f4dc9033f034d6dd"},
		{`{"size": 4096, "seed": 1}`, "0162c2058614045c", "7f1272b0fb14a4b6"},
		{`{"size": 16, "seed": 7, "offset": 100}`, "c456e1314f6d48d1", "9d71130f6634f904"},
		{`{"size": 8, "seed": 4294967295}`, "0060c00380160652", "142a1cd7bbbda9d6"},
	} {
		var spec map[string]any
		d := json.NewDecoder(strings.NewReader(c.spec))
		d.UseNumber()
		if err := d.Decode(&spec); err != nil {
			t.Fatal(err)
		}
		b, err := dataOf(spec)
		if err != nil {
			t.Fatal(err)
		}
		first := b
		if len(first) > 8 {
			first = first[:8]
		}
		if got := fmt.Sprintf("%x", first); got != c.first {
			t.Errorf("%s: first bytes %s, want %s", c.spec, got, c.first)
		}
		if got := fnv(b); got != c.hash {
			t.Errorf("%s: hash %s, want %s", c.spec, got, c.hash)
		}
	}
}
