# tether — the everyday commands. Each target calls a script that does the real work, so
# the same steps run the same way from make, from CI and by hand.
#
#   make bench          Go's context benchmarks and tether's ports, side by side (< 10 min);
#                       writes bench/results/latest.{json,png}, docs/performance.md
#   make bench-quick    the same, briefly, to check it all works (rough numbers, written to
#                       build-bench/results/); also: make bench QUICK=1

.PHONY: help bench bench-quick

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

bench:
	bash bench/run.sh $(if $(QUICK),--quick)

bench-quick:
	bash bench/run.sh --quick
