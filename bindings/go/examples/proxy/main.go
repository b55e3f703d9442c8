// Command proxy is a TCP proxy whose bytes never enter user space: each
// direction of each connection is one splicer.Copy, which splices through
// a kernel pipe and parks on the Go runtime's poller while a side is idle.
//
//	proxy -listen 127.0.0.1:8080 -to 127.0.0.1:80
package main

import (
	"flag"
	"log"
	"net"

	"splicer.dev/splicer"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to accept connections on")
	to := flag.String("to", "", "address to forward them to")
	flag.Parse()
	if *to == "" {
		log.Fatal("proxy: -to is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("proxy: %s -> %s", ln.Addr(), *to)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c.(*net.TCPConn), *to)
	}
}

func serve(client *net.TCPConn, to string) {
	defer client.Close()
	b, err := net.Dial("tcp", to)
	if err != nil {
		log.Print(err)
		return
	}
	backend := b.(*net.TCPConn)
	defer backend.Close()
	done := make(chan struct{})
	go func() {
		// half-close so that the backend sees the client's end of stream
		if _, err := splicer.Copy(backend, client); err != nil {
			log.Print(err)
		}
		backend.CloseWrite()
		close(done)
	}()
	if _, err := splicer.Copy(client, backend); err != nil {
		log.Print(err)
	}
	client.CloseWrite()
	<-done
}
