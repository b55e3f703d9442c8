// Command fileserver sends one file to every client that connects and
// closes the connection: file -> TCP socket is splicer's sendfile path,
// the bytes go from the page cache to the socket without a copy.
//
//	fileserver -listen 127.0.0.1:9000 -file /var/log/syslog
package main

import (
	"flag"
	"log"
	"net"
	"os"

	"splicer.dev/splicer"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to accept connections on")
	path := flag.String("file", "", "file to serve")
	flag.Parse()
	if *path == "" {
		log.Fatal("fileserver: -file is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("fileserver: %s on %s", *path, ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go send(c, *path)
	}
}

func send(c net.Conn, path string) {
	defer c.Close()
	f, err := os.Open(path)
	if err != nil {
		log.Print(err)
		return
	}
	defer f.Close()
	s, err := splicer.New()
	if err != nil {
		log.Print(err)
		return
	}
	defer s.Close()
	n, err := s.Copy(c, f)
	st, _ := s.Stats()
	log.Printf("fileserver: %s: %d bytes (sendfile %d) err=%v", c.RemoteAddr(), n, st.ByMethod[splicer.MethodSendfile], err)
}
