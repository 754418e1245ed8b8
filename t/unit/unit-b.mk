# Unit tests of helper B's files (s3 parsing, sealed secrets, authz).
# Included by the top-level Makefile; usable alone too:
#     make -f t/unit/unit-b.mk unit-b
# NGX_BUILDDIR is nginx's configured --builddir (holds ngx_auto_config.h).

NGX_SRC      ?= /usr/share/nginx/src
NGX_BUILDDIR ?= $(or $(NGX_BUILD),build/ngx)
UNIT_CC      ?= cc

UNIT_B_CFLAGS = -g -O1 -Wall -Wextra -Werror \
	-I$(NGX_SRC)/src/core -I$(NGX_SRC)/src/event \
	-I$(NGX_SRC)/src/event/modules -I$(NGX_SRC)/src/os/unix \
	-I$(NGX_SRC)/src/http -I$(NGX_SRC)/src/http/modules \
	-I$(NGX_SRC)/src/http/v2 \
	-I$(NGX_BUILDDIR) -Ingx_objspace_module
UNIT_B_LIBS   = -lcrypto -ljansson

UNIT_B_TESTS  = build/unit/s3_test build/unit/crypto_test \
	build/unit/authz_test

UNIT_B_SRC    = ngx_objspace_module

# inside the top-level Makefile: configure nginx first (ngx_auto_config.h)
UNIT_B_NGX    = $(if $(NGX_BUILD),| $(NGX_BUILD)/Makefile)

.PHONY: unit-b unit-b-test

unit-b: $(UNIT_B_TESTS)

unit-b-test: unit-b
	prove --exec '' t/012-s3-unit.t t/013-crypto-unit.t t/014-authz-unit.t

build/unit/s3_test: t/unit/s3_test.c t/unit/b_tap.h \
		$(UNIT_B_SRC)/ngx_http_objspace_s3.c \
		$(UNIT_B_SRC)/ngx_http_objspace_sigv4.c \
		$(UNIT_B_SRC)/ngx_http_objspace_s3.h $(UNIT_B_NGX)
	@mkdir -p build/unit
	$(UNIT_CC) $(UNIT_B_CFLAGS) -o $@ t/unit/s3_test.c $(UNIT_B_LIBS)

build/unit/crypto_test: t/unit/crypto_test.c t/unit/b_tap.h \
		$(UNIT_B_SRC)/ngx_http_objspace_crypto.c \
		$(UNIT_B_SRC)/ngx_http_objspace_module.h $(UNIT_B_NGX)
	@mkdir -p build/unit
	$(UNIT_CC) $(UNIT_B_CFLAGS) -o $@ t/unit/crypto_test.c $(UNIT_B_LIBS)

build/unit/authz_test: t/unit/authz_test.c t/unit/b_tap.h \
		$(UNIT_B_SRC)/ngx_http_objspace_authz.c \
		$(UNIT_B_SRC)/ngx_http_objspace_authz.h \
		$(UNIT_B_SRC)/ngx_http_objspace_s3.c \
		$(UNIT_B_SRC)/ngx_http_objspace_sigv4.c \
		$(UNIT_B_SRC)/ngx_http_objspace_s3.h $(UNIT_B_NGX)
	@mkdir -p build/unit
	$(UNIT_CC) $(UNIT_B_CFLAGS) -o $@ t/unit/authz_test.c $(UNIT_B_LIBS)


# ---- fuzzing: S3 request router + authz -------------------------------
# fuzz/fuzz.mk (helper A) runs every target in FUZZ_TARGETS with its seed
# corpus fuzz/corpus/<target>/; this fragment is included before it.

FUZZ_TARGETS    += s3

UNIT_B_FUZZ_CC     ?= clang-14
UNIT_B_FUZZ_CFLAGS  = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined $(UNIT_B_CFLAGS)

build/fuzz/fuzz_s3: fuzz/fuzz_s3.c \
		$(UNIT_B_SRC)/ngx_http_objspace_s3.c \
		$(UNIT_B_SRC)/ngx_http_objspace_s3.h \
		$(UNIT_B_SRC)/ngx_http_objspace_authz.c \
		$(UNIT_B_SRC)/ngx_http_objspace_authz.h \
		$(UNIT_B_SRC)/ngx_http_objspace_sigv4.c $(UNIT_B_NGX)
	@mkdir -p build/fuzz
	$(UNIT_B_FUZZ_CC) $(UNIT_B_FUZZ_CFLAGS) -o $@ fuzz/fuzz_s3.c \
	    $(UNIT_B_LIBS)
