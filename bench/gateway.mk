# Gateway benchmark (bench/gateway-bench): small-object GET/PUT through the
# gateway vs plain nginx proxy_pass to the same fast upstream (wrk), the
# gateway's CPU per request, and worker memory during 1 GiB streaming
# uploads. Included by the top-level Makefile (`make bench`); alone:
#     make bench-gateway [BENCH_GW_DURATION=5] [BENCH_GW_ROUNDS=6]
#                        [BENCH_GW_MEM_MIB=1024] [BENCH_GW_PERF=auto|1|0]

BENCH_GW_DURATION ?= 5
BENCH_GW_ROUNDS   ?= 6
BENCH_GW_MEM_MIB  ?= 1024
BENCH_GW_PERF     ?= auto

BENCH_TARGETS += bench-gateway

.PHONY: bench-gateway

bench-gateway: build
	@BENCH_GW_DURATION=$(BENCH_GW_DURATION) \
	    BENCH_GW_ROUNDS=$(BENCH_GW_ROUNDS) \
	    BENCH_GW_MEM_MIB=$(BENCH_GW_MEM_MIB) \
	    BENCH_GW_PERF=$(BENCH_GW_PERF) bench/gateway-bench
