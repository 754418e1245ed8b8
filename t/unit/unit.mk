# Unit tests of helper A's files (SigV4, aws-chunked), TAP executables.
# Included by the top-level Makefile; usable alone too:
#     make -f t/unit/unit.mk unit        build build/unit/{sigv4,chunked}_test
#     make -f t/unit/unit.mk unit-a-test build and run them through prove
# fuzz/fuzz.mk and bench/bench.mk include this file (guarded) for the
# include paths and the configure rule.
#
# The tests #include the file under test and need nginx's configured
# headers: NGX_BUILDDIR (default build/ngx) is nginx's --builddir holding
# ngx_auto_config.h / ngx_auto_headers.h.  From a clean checkout the rule
# for $(NGX_BUILDDIR)/ngx_auto_config.h runs nginx's configure once (the
# same line the module build uses); inside the top-level Makefile, its
# configure step ($(NGX_BUILD)/Makefile) is used instead, so the two never
# race.

ifndef UNIT_A_MK
UNIT_A_MK := 1

NGX_SRC      ?= /usr/share/nginx/src
NGX_BUILDDIR ?= $(or $(NGX_BUILD),build/ngx)
UNIT_CC      ?= cc
SHELL        := /bin/bash

UNIT_A_SRC    = ngx_objspace_module
UNIT_A_CFLAGS = -g -O1 -Wall -Wextra -Werror \
	-I$(NGX_SRC)/src/core -I$(NGX_SRC)/src/event \
	-I$(NGX_SRC)/src/event/modules -I$(NGX_SRC)/src/os/unix \
	-I$(NGX_SRC)/src/http -I$(NGX_SRC)/src/http/modules \
	-I$(NGX_BUILDDIR) -I$(UNIT_A_SRC)
UNIT_A_LIBS   = -lcrypto -lz -ljansson

UNIT_A_TESTS  = build/unit/sigv4_test build/unit/chunked_test

# t/010-sigv4-unit.t and t/011-chunked-unit.t live in t/, so prove finds
# them without UNIT_TESTS.

.PHONY: unit unit-a-test

unit: $(UNIT_A_TESTS)

unit-a-test: unit
	prove --exec '' t/010-sigv4-unit.t t/011-chunked-unit.t

ifneq ($(NGX_BUILD),)
# inside the top-level Makefile: its configure step makes the headers
$(NGX_BUILDDIR)/ngx_auto_config.h: | $(NGX_BUILD)/Makefile
else
$(NGX_BUILDDIR)/ngx_auto_config.h:
	@mkdir -p $(NGX_BUILDDIR)
	@echo "configure: nginx $(NGX_SRC) -> $(NGX_BUILDDIR) (for unit tests)"
	@builddir=$$(cd $(NGX_BUILDDIR) && pwd) && top=$$(pwd) && \
	    cd $(NGX_SRC) && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$$top \
	        --builddir=$$builddir > $$builddir/configure-unit.log 2>&1 \
	    || { tail -20 $$builddir/configure-unit.log; exit 1; }
endif

build/unit/sigv4_test: t/unit/sigv4_test.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.h \
		| $(NGX_BUILDDIR)/ngx_auto_config.h
	@mkdir -p build/unit
	$(UNIT_CC) $(UNIT_A_CFLAGS) -o $@ t/unit/sigv4_test.c $(UNIT_A_LIBS)

build/unit/chunked_test: t/unit/chunked_test.c \
		$(UNIT_A_SRC)/ngx_http_objspace_chunked.c \
		$(UNIT_A_SRC)/ngx_http_objspace_chunked.h \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.c \
		$(UNIT_A_SRC)/ngx_http_objspace_sigv4.h \
		| $(NGX_BUILDDIR)/ngx_auto_config.h
	@mkdir -p build/unit
	$(UNIT_CC) $(UNIT_A_CFLAGS) -o $@ t/unit/chunked_test.c $(UNIT_A_LIBS)

endif # UNIT_A_MK
