// go_http_bench — Go's net/http side of the HTTP family (bench/http/run.sh runs it next to
// tether_http_bench, with the same commands and output). Standard library only; built in
// GOPATH mode (GO111MODULE=off) from Debian's golang.
//
//	go_http_bench serve [-port P]          GET /hello until stdin closes; prints "listening PORT"
//	go_http_bench disconnect [-rounds N]   client closes mid-request → r.Context().Done() delay
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
	"sort"
	"time"
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
	go http.Serve(ln, mux)
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
	}
}

func disconnect(rounds int) {
	ln := listen(0)
	started := make(chan struct{})
	done := make(chan time.Time)
	mux := http.NewServeMux()
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
		done <- time.Now()
	})
	go http.Serve(ln, mux)
	addr := ln.Addr().String()
	micros := make([]float64, 0, rounds)
	for i := 0; i < rounds; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		c.Write([]byte("GET /wait HTTP/1.1\r\nHost: b\r\n\r\n"))
		<-started
		closedAt := time.Now()
		c.Close()
		micros = append(micros, float64((<-done).Sub(closedAt).Nanoseconds())/1000)
	}
	sort.Float64s(micros)
	pct := func(p float64) float64 {
		i := int(p * float64(len(micros)))
		if i >= len(micros) {
			i = len(micros) - 1
		}
		return micros[i]
	}
	fmt.Printf("disconnect_us p50=%.1f p90=%.1f p99=%.1f n=%d\n", pct(0.5), pct(0.9), pct(0.99), len(micros))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go_http_bench serve|disconnect [-port P] [-rounds N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	port := fs.Int("port", 0, "port to listen on (0: any)")
	rounds := fs.Int("rounds", 2000, "disconnect rounds")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		serve(*port)
	case "disconnect":
		disconnect(*rounds)
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
