module splicer.bench/scale

go 1.24

require splicer.dev/splicer v0.0.0

replace splicer.dev/splicer => ../../bindings/go
