# libFuzzer targets for helper A's files (SigV4 parser, aws-chunked decoder).
# Included by the top-level Makefile; usable alone too:
#     make -f fuzz/fuzz.mk fuzz         each target ~FUZZ_TIME seconds
#     make -f fuzz/fuzz.mk fuzz-long    each target FUZZ_LONG_RUNS executions
#
# Built with clang -fsanitize=fuzzer,address,undefined (clang-14 and
# libclang-rt-14-dev / libfuzzer-14-dev).  The seed corpora in
# fuzz/corpus/<target>/ are read only; what libFuzzer finds goes to
# fuzz/corpus-work/<target>/ (git-ignored), crashes to build/fuzz/.

include t/unit/unit.mk
# more targets (xml, redis, provisioner parsers): issue 7
include fuzz/hardening.mk

FUZZ_CC         ?= clang-14
FUZZ_TIME       ?= 60
FUZZ_LONG_RUNS  ?= 1000000
FUZZ_ARGS       ?=
FUZZ_TARGETS    += sigv4 chunked
FUZZ_CFLAGS      = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Wall -Wextra -Werror \
	-I$(NGX_SRC)/src/core -I$(NGX_SRC)/src/event \
	-I$(NGX_SRC)/src/event/modules -I$(NGX_SRC)/src/os/unix \
	-I$(NGX_SRC)/src/http -I$(NGX_SRC)/src/http/modules \
	-I$(NGX_BUILDDIR) -I$(UNIT_A_SRC)
FUZZ_LIBS        = -lcrypto -lz

# FUZZ_TARGETS may be appended to by other fragments (a target T needs a
# rule for build/fuzz/fuzz_T and a seed corpus fuzz/corpus/T/).
FUZZ_RUN = \
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p fuzz/corpus-work/$$t build/fuzz/artifacts-$$t && \
	    echo "fuzz: $$t ($(1))" && \
	    build/fuzz/fuzz_$$t $(1) -max_len=4096 -print_final_stats=1 \
	        -artifact_prefix=build/fuzz/artifacts-$$t/ $(FUZZ_ARGS) \
	        fuzz/corpus-work/$$t fuzz/corpus/$$t 2>&1 \
	        | grep -E '^(stat::number_of_executed_units|stat::new_units|Done|==|SUMMARY|INFO: -max_total_time)|DONE|ERROR|crash-' ; \
	    test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

.PHONY: fuzz fuzz-long fuzz-build

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

fuzz: fuzz-build
	@$(call FUZZ_RUN,-max_total_time=$(FUZZ_TIME))

fuzz-long: fuzz-build
	@$(call FUZZ_RUN,-runs=$(FUZZ_LONG_RUNS))

build/fuzz/fuzz_sigv4: fuzz/fuzz_sigv4.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.h \
		| $(NGX_BUILDDIR)/ngx_auto_config.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz_sigv4.c $(FUZZ_LIBS)

build/fuzz/fuzz_chunked: fuzz/fuzz_chunked.c \
		$(UNIT_A_SRC)/ngx_http_objspace_chunked.c \
		$(UNIT_A_SRC)/ngx_http_objspace_chunked.h \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.h \
		| $(NGX_BUILDDIR)/ngx_auto_config.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ fuzz/fuzz_chunked.c $(FUZZ_LIBS)
