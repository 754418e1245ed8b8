# Provisioner sync benchmark (issue 4), included by the top-level Makefile:
#     make bench-provisioner [BENCH_PROV_SPACES=10000 BENCH_PROV_IDENTITIES=100000]
# A full RustShare sync of 10,000 spaces and 100,000 identities into Redis
# (target: under 10 s), against a baseline of one MULTI/EXEC round trip per
# record measured in the same run, then the change -> Redis -> invalidation
# latency.  The fake RustShare stands in for RustShare; the storage side is
# a stub inside bench/prov_sync_bench.c (labelled so): Redis is measured.

BENCH_PROV_SPACES     ?= 10000
BENCH_PROV_IDENTITIES ?= 100000

BENCH_TARGETS += bench-provisioner

.PHONY: bench-provisioner

bench-provisioner: build/bench/prov_sync_bench
	@/usr/bin/python3 bench/provisioner-bench $(BENCH_PROV_SPACES) \
	    $(BENCH_PROV_IDENTITIES)

build/bench/prov_sync_bench: bench/prov_sync_bench.c provisioner
	@mkdir -p build/bench
	$(CC) -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	    -Wno-missing-field-initializers -Iprovisioner -o $@ \
	    bench/prov_sync_bench.c \
	    $$(ls build/provisioner/*.o | grep -v '/main\.o$$') \
	    -Wl,--wrap=prov_store_create_space \
	    -lcurl -lhiredis -ljansson -lcrypto
