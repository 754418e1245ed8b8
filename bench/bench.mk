# Micro benchmark of helper A's SigV4 verification (bench/sigv4_bench.c).
# Included by the top-level Makefile; usable alone too:
#     make -f bench/bench.mk bench-sigv4 [BENCH_SIGV4_ITERS=300000]
# Prints verifications/s for objspace and for a baseline (textbook
# snprintf + EVP_Digest + one-shot HMAC()) measured in the same run.

include t/unit/unit.mk

BENCH_CC          ?= cc
BENCH_SIGV4_ITERS ?= 300000
BENCH_SIGV4_CFLAGS = -O2 -g -Wall -Wextra -Werror \
	-I$(NGX_SRC)/src/core -I$(NGX_SRC)/src/event \
	-I$(NGX_SRC)/src/event/modules -I$(NGX_SRC)/src/os/unix \
	-I$(NGX_SRC)/src/http -I$(NGX_SRC)/src/http/modules \
	-I$(NGX_BUILDDIR) -I$(UNIT_A_SRC)

.PHONY: bench-sigv4

bench-sigv4: build/bench/sigv4_bench
	build/bench/sigv4_bench $(BENCH_SIGV4_ITERS)

build/bench/sigv4_bench: bench/sigv4_bench.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.h \
		| $(NGX_BUILDDIR)/ngx_auto_config.h
	@mkdir -p build/bench
	$(BENCH_CC) $(BENCH_SIGV4_CFLAGS) -o $@ bench/sigv4_bench.c -lcrypto
