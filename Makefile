# tether — the everyday commands. Each target calls a script that does the real work, so
# the same steps run the same way from make, from CI and by hand.
#
#   make demo           the main job: the demo service's guided tour (./scripts/demo)
#   make serve          the demo service on http://127.0.0.1:8080 until Ctrl-C
#                       (./scripts/demo --serve; pass flags with ARGS="--activity-latency 300")
#   make test           the whole test suite (same as ./scripts/test)
#   make load           the demo under wrk: registry off vs contexts replaced by background()
#                       (scripts/load; ~3 min on an idle machine; build/demo/throughput.md)
#   make bench          Go's context benchmarks and tether's ports, side by side, 3 rounds
#                       (~10 min); writes bench/results/last-run.{json,png}, and, only if
#                       the machine was quiet enough for every verdict, publishes it to
#                       bench/results/latest.{json,png} and docs/performance.md
#                       then the HTTP family (make bench-http) and the gRPC family (make bench-grpc)
#   make bench-http     tether::http (coroutine and blocking handlers) against Go's net/http:
#                       requests/s, p99, disconnect -> context done (~2 min; bench/http/run.sh,
#                       build-bench/results/http.txt; a verdict only on a quiet machine)
#   make bench-grpc     tether::grpc against raw gRPC: unary calls/s (adapter, inline), cancel
#                       -> server context done (~1 min; bench/grpc/run.sh,
#                       build-bench/results/grpc.txt; a verdict only on a quiet machine)
#   make bench-instructions   instructions per core operation under Callgrind against the
#                       std::stop_source floor, bounds checked (deterministic; CI runs it)
#   make bench-quick    the same, briefly, to check it all works (rough numbers, written to
#                       build-bench/results/); also: make bench QUICK=1

.PHONY: help demo serve test load bench bench-quick bench-http bench-grpc bench-instructions

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

demo:
	./scripts/demo

serve:
	./scripts/demo --serve $(ARGS)

test:
	./scripts/test

load:
	./scripts/load

bench:
	bash bench/run.sh $(if $(QUICK),--quick)
	bash bench/http/run.sh $(if $(QUICK),--quick)
	bash bench/grpc/run.sh $(if $(QUICK),--quick)

bench-quick:
	bash bench/run.sh --quick
	bash bench/http/run.sh --quick
	bash bench/grpc/run.sh --quick

bench-http:
	bash bench/http/run.sh

bench-grpc:
	bash bench/grpc/run.sh

bench-instructions:
	bash bench/instructions.sh
