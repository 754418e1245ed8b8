# Public web/CDN frontend benchmark (bench/cdn-bench): anonymous GET of a
# 1 KiB and a 1 MiB object through the public frontend vs plain proxy_pass
# to the same RGW, and through conf/cdn.conf's warm proxy_cache vs nginx
# serving the same file from disk; prints requests/s and both ratios.
# Included by the top-level Makefile (`make bench`); alone:
#     make bench-cdn [BENCH_CDN_DURATION=5] [BENCH_CDN_ROUNDS=1]
#                    [BENCH_CDN_CONNECTIONS=8]

BENCH_CDN_DURATION    ?= 5
BENCH_CDN_ROUNDS      ?= 1
BENCH_CDN_CONNECTIONS ?= 8

BENCH_TARGETS += bench-cdn

.PHONY: bench-cdn

bench-cdn: build provisioner
	@BENCH_CDN_DURATION=$(BENCH_CDN_DURATION) \
	    BENCH_CDN_ROUNDS=$(BENCH_CDN_ROUNDS) \
	    BENCH_CDN_CONNECTIONS=$(BENCH_CDN_CONNECTIONS) bench/cdn-bench
