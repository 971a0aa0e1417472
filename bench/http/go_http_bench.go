// go_http_bench — Go's net/http side of the HTTP family (bench/http/run.sh runs it next to
// tether_http_bench, with the same commands and output). Standard library only; built in
// GOPATH mode (GO111MODULE=off) from Debian's golang.
//
//	go_http_bench serve [-port P]    serves until stdin closes; prints "listening PORT":
//	  GET /hello            "hello", after reading the request context;
//	  GET /wait?notify=U    sends a UDP datagram "s" to 127.0.0.1:U when the handler starts,
//	                        then waits for r.Context().Done() and sends "d".
//
// tether_http_bench disconnect-client is the client of /wait for both servers.
//
// It measures; it asserts nothing.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func hello(w http.ResponseWriter, r *http.Request) {
	if r.Context().Err() != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("hello"))
}

func listen(port int) net.Listener {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return ln
}

func serve(port int) {
	ln := listen(port)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", hello)
	mux.HandleFunc("/wait", wait)
	go http.Serve(ln, mux)
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
	}
}

var udp, _ = net.ListenPacket("udp", "127.0.0.1:0")

// notify sends the one-byte datagram what to 127.0.0.1:U, from the request's ?notify=U.
func notify(r *http.Request, what byte) {
	port, err := strconv.Atoi(r.URL.Query().Get("notify"))
	if err != nil {
		return
	}
	udp.WriteTo([]byte{what}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
}

func wait(w http.ResponseWriter, r *http.Request) {
	notify(r, 's')
	<-r.Context().Done()
	notify(r, 'd')
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go_http_bench serve [-port P]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	port := fs.Int("port", 0, "port to listen on (0: any)")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		serve(*port)
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
