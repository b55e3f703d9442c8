module splicer.dev/splicer

go 1.24
