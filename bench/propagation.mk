# Propagation benchmark (issue 3), included by the top-level Makefile:
#     make bench-propagation [BENCH_PROP_SAMPLES=100 BENCH_PROP_WORKERS=2]
# Redis write (revoke / space disable / rotation + invalidation) -> every
# nginx worker refusing, p50/p99, against a plain pub/sub subscriber and
# the request round trip measured in the same run (bench/propagation-bench).

BENCH_PROP_SAMPLES ?= 100
BENCH_PROP_WORKERS ?= 2

BENCH_TARGETS += bench-propagation

.PHONY: bench-propagation

bench-propagation:
	@/usr/bin/python3 bench/propagation-bench $(BENCH_PROP_SAMPLES) \
	    $(BENCH_PROP_WORKERS)
