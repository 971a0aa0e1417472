// The Probe service (modules/grpc/tests/probe.proto) and its client in Go, on Debian's grpc-go
// (golang-google-grpc-dev, GOPATH mode, offline). No generated code: a codec that passes
// bytes through, and messages encoded by hand (strings and varints only).
//
//	peer server                   prints "listening PORT", then one line per event
//	peer client ADDR hello        Echo with a traceparent; prints what the server saw
//	peer client ADDR timeout MS   Hold with an MS deadline; prints the status
//	peer client ADDR cancel MS    Hold, cancelled after MS
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string   { return "proto" }
func (rawCodec) String() string { return "proto" } // grpc.Codec (the server option's older interface)

func varint(n uint64) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, b|0x80)
		} else {
			return append(out, b)
		}
	}
}

func str(num int, s string) []byte {
	out := append(varint(uint64(num<<3|2)), varint(uint64(len(s)))...)
	return append(out, s...)
}

func num(n int, v int64) []byte { return append(varint(uint64(n<<3)), varint(uint64(v))...) }

func decode(buf []byte) map[int]interface{} {
	fields := map[int]interface{}{}
	i := 0
	readVarint := func() uint64 {
		var r uint64
		for shift := uint(0); ; shift += 7 {
			b := buf[i]
			i++
			r |= uint64(b&0x7f) << shift
			if b&0x80 == 0 {
				return r
			}
		}
	}
	for i < len(buf) {
		key := readVarint()
		switch key & 7 {
		case 0:
			fields[int(key>>3)] = int64(readVarint())
		case 2:
			n := int(readVarint())
			fields[int(key>>3)] = string(buf[i : i+n])
			i += n
		default:
			panic("unexpected wire type")
		}
	}
	return fields
}

func say(format string, a ...interface{}) { fmt.Printf(format+"\n", a...) }

func leftMs(ctx context.Context) float64 {
	if d, ok := ctx.Deadline(); ok {
		return float64(time.Until(d).Microseconds()) / 1000
	}
	return -1
}

func echo(_ interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	tp := ""
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("traceparent")) > 0 {
		tp = md.Get("traceparent")[0]
	}
	say("echo traceparent=%s left_ms=%.1f", tp, leftMs(ctx))
	text, _ := decode(in)[1].(string)
	out := append(str(1, text), str(2, tp)...)
	out = append(out, num(3, int64(leftMs(ctx)*1000))...)
	return &out, nil
}

func hold(_ interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	say("hold start left_ms=%.1f", leftMs(ctx))
	ms, _ := decode(in)[2].(int64)
	if ms == 0 {
		ms = 60000
	}
	select {
	case <-ctx.Done():
		say("hold end err=%v", ctx.Err())
		// As a Go handler should: a call whose context ended answers with that end, never
		// with success. (tether's client gives a callee 4 % less time than it has, so this
		// handler's deadline passes first; answering OK here reached the caller before its
		// own deadline in 3 of 20 runs on a loaded machine.)
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-time.After(time.Duration(ms) * time.Millisecond):
		say("hold end err=<nil>")
	}
	out := str(1, "held")
	return &out, nil
}

func server() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := grpc.NewServer(grpc.CustomCodec(rawCodec{}))
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "tether.test.Probe",
		HandlerType: (*interface{})(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Echo", Handler: echo},
			{MethodName: "Hold", Handler: hold},
		},
	}, struct{}{})
	say("listening %d", lis.Addr().(*net.TCPAddr).Port)
	if err := s.Serve(lis); err != nil {
		panic(err)
	}
}

func client(addr, mode string, ms int) {
	conn, err := grpc.Dial(addr, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	t0 := time.Now()
	var out []byte
	switch mode {
	case "hello":
		ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", traceparent)
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		in := str(1, "hello")
		if err := conn.Invoke(ctx, "/tether.test.Probe/Echo", &in, &out); err != nil {
			say("status=%s", status.Code(err))
			return
		}
		f := decode(out)
		tid, _ := f[4].(string)
		left, _ := f[3].(int64)
		say("status=OK trace_id=%s left_us=%d", tid, left)
		return
	case "timeout":
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
		defer cancel()
		in := []byte{}
		err = conn.Invoke(ctx, "/tether.test.Probe/Hold", &in, &out)
	case "cancel":
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Duration(ms)*time.Millisecond, cancel)
		in := []byte{}
		err = conn.Invoke(ctx, "/tether.test.Probe/Hold", &in, &out)
	}
	say("status=%s elapsed_ms=%.1f", status.Code(err), float64(time.Since(t0).Microseconds())/1000)
}

func main() {
	if os.Args[1] == "server" {
		server()
		return
	}
	ms := 0
	if len(os.Args) > 4 {
		ms, _ = strconv.Atoi(os.Args[4])
	}
	client(os.Args[2], os.Args[3], ms)
}
