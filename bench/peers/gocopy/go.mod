module splicer.bench/gocopy

go 1.21
