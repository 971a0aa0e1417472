#!/usr/bin/python3
"""The Probe service (modules/grpc/tests/probe.proto) and its client in Python, on python3-grpcio.

No generated code: messages are encoded by hand (strings and varints only), methods are
registered with grpcio's generic handlers. Used by modules/grpc/tests/peers_test.cpp.

  peer.py server                   prints "listening PORT", then one line per event
  peer.py client ADDR hello        Echo with a traceparent; prints what the server saw
  peer.py client ADDR timeout MS   Hold with an MS deadline; prints the status
  peer.py client ADDR cancel MS    Hold, cancelled after MS
  peer.py client ADDR kill MS      Hold, then the process dies (os._exit) after MS
"""
import os
import sys
import threading
import time
from concurrent import futures

import grpc

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode(fields):
    """fields: {number: str | int}"""
    out = bytearray()
    for num, val in sorted(fields.items()):
        if isinstance(val, str):
            data = val.encode()
            out += varint(num << 3 | 2) + varint(len(data)) + data
        else:
            out += varint(num << 3) + varint(val)
    return bytes(out)


def decode(buf):
    fields, i = {}, 0

    def read_varint():
        nonlocal i
        shift = result = 0
        while True:
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while i < len(buf):
        key = read_varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            v = read_varint()
            fields[num] = v - (1 << 64) if v >= 1 << 63 else v
        elif wire == 2:
            n = read_varint()
            fields[num] = buf[i:i + n].decode()
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wire)
    return fields


def say(*words):
    print(" ".join(str(w) for w in words), flush=True)


def echo(request, context):
    req = decode(request)
    md = dict(context.invocation_metadata())
    left = context.time_remaining()
    say("echo", "traceparent=" + md.get("traceparent", "-"),
        "left_ms=%.1f" % (left * 1000 if left is not None else -1))
    return encode({1: req.get(1, ""), 2: md.get("traceparent", ""),
                   3: int(left * 1e6) if left is not None else -1})


def hold(request, context):
    req = decode(request)
    ended = threading.Event()
    context.add_callback(ended.set)  # runs when the RPC terminates (cancel, deadline, done)
    left = context.time_remaining()
    say("hold start", "left_ms=%.1f" % (left * 1000 if left is not None else -1))
    ms = req.get(2, 0) or 60000
    ended.wait(ms / 1000)
    say("hold end", "active=%s" % context.is_active(), "callback=%s" % ended.is_set())
    return encode({1: "held"})


class Probe(grpc.GenericRpcHandler):
    def service(self, details):
        name = details.method.rsplit("/", 1)[-1]
        if name == "Echo":
            return grpc.unary_unary_rpc_method_handler(echo)
        if name == "Hold":
            return grpc.unary_unary_rpc_method_handler(hold)
        return None


def server():
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    s.add_generic_rpc_handlers((Probe(),))
    port = s.add_insecure_port("127.0.0.1:0")
    s.start()
    say("listening", port)
    s.wait_for_termination()


def client(addr, mode, arg):
    ch = grpc.insecure_channel(addr)
    grpc.channel_ready_future(ch).result(timeout=10)
    hold_rpc = ch.unary_unary("/tether.test.Probe/Hold")
    t0 = time.monotonic()
    if mode == "hello":
        r = decode(ch.unary_unary("/tether.test.Probe/Echo")(
            encode({1: "hello"}), metadata=(("traceparent", TRACEPARENT),), timeout=10))
        say("status=OK", "trace_id=" + r.get(4, ""), "left_us=%d" % r.get(3, 0))
        return
    ms = int(arg)
    try:
        if mode == "timeout":
            hold_rpc(encode({}), timeout=ms / 1000)
        else:
            fut = hold_rpc.future(encode({}))
            time.sleep(ms / 1000)
            if mode == "kill":
                os._exit(0)
            fut.cancel()
            fut.result()
        say("status=OK")
    except grpc.FutureCancelledError:
        say("status=CANCELLED", "elapsed_ms=%.1f" % ((time.monotonic() - t0) * 1000))
    except grpc.RpcError as e:
        say("status=" + e.code().name, "elapsed_ms=%.1f" % ((time.monotonic() - t0) * 1000))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    else:
        client(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else "0")
