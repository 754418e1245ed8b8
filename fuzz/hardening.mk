# libFuzzer targets of the hardening work (issue 7), included by
# fuzz/fuzz.mk (which runs every target in FUZZ_TARGETS, seed corpora in
# fuzz/corpus/<target>/):
#   xml         multi-object delete body (ngx_http_objspace_xml.c, expat)
#   redis       identity/space records from Redis: RESP (hiredis' reader)
#               -> ngx_http_objspace_redis_fields -> parse_ident/_space
#   provconf    provisioner config + credentials files (prov_config.c)
#   provstate   provisioner: space/identity hashes read back from Redis
#               (prov_state.c prov_space_parse / prov_ident_parse)
#   rustshare   provisioner: RustShare API JSON (prov_rustshare.c), once
#               that file and fuzz/fuzz_rustshare.c exist

FUZZ_TARGETS += xml redis provconf provstate
FUZZ_TARGETS += $(if $(and $(wildcard provisioner/prov_rustshare.c),\
                     $(wildcard fuzz/fuzz_rustshare.c)),rustshare)

FUZZ_MOD_SRC   = ngx_objspace_module
FUZZ_PROV_SRCS = $(filter-out provisioner/main.c,$(wildcard provisioner/*.c))
FUZZ_PROV_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE \
	-Wall -Wextra -Werror -Wno-missing-field-initializers -Iprovisioner
FUZZ_PROV_LIBS = -lcurl -lhiredis -ljansson -lcrypto

build/fuzz/fuzz_xml: fuzz/fuzz_xml.c $(FUZZ_MOD_SRC)/ngx_http_objspace_xml.c \
		$(FUZZ_MOD_SRC)/ngx_http_objspace_xml.h \
		| $(NGX_BUILDDIR)/ngx_auto_config.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-unused-parameter -o $@ fuzz/fuzz_xml.c \
	    -lexpat

# nginx-dev ships headers only: ngx_string.c (ngx_atoof, ngx_atotm) comes
# from the source package tools/asan-build fetches
FUZZ_NGX_FULL = build/asan/src/nginx-1.22.1

$(FUZZ_NGX_FULL)/src/core/ngx_string.c:
	tools/asan-build --fetch

build/fuzz/fuzz_redis: fuzz/fuzz_redis.c fuzz/fuzz_resp.h \
		$(wildcard $(FUZZ_MOD_SRC)/*.c $(FUZZ_MOD_SRC)/*.h) \
		$(FUZZ_NGX_FULL)/src/core/ngx_string.c \
		| $(NGX_BUILDDIR)/ngx_auto_config.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(NGX_SRC)/src/http/v2 \
	    -Wno-unused-parameter -Wno-unused-function \
	    -DFUZZ_NGX_STRING_C='"$(CURDIR)/$(FUZZ_NGX_FULL)/src/core/ngx_string.c"' \
	    -fno-pic -no-pie -o $@ fuzz/fuzz_redis.c \
	    -Wl,--unresolved-symbols=ignore-all \
	    -lhiredis -lcrypto -lz

# the provisioner's own files are linked whole except main.c; the target
# file #includes the one it fuzzes, so that one is left out of the link
build/fuzz/fuzz_provconf: fuzz/fuzz_provconf.c $(FUZZ_PROV_SRCS) \
		$(wildcard provisioner/*.h)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_PROV_FLAGS) -o $@ fuzz/fuzz_provconf.c \
	    $(filter-out provisioner/prov_config.c,$(FUZZ_PROV_SRCS)) \
	    $(FUZZ_PROV_LIBS)

build/fuzz/fuzz_provstate: fuzz/fuzz_provstate.c fuzz/fuzz_resp.h \
		$(FUZZ_PROV_SRCS) \
		$(wildcard provisioner/*.h)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_PROV_FLAGS) -o $@ fuzz/fuzz_provstate.c \
	    $(filter-out provisioner/prov_state.c,$(FUZZ_PROV_SRCS)) \
	    $(FUZZ_PROV_LIBS)

build/fuzz/fuzz_rustshare: fuzz/fuzz_rustshare.c $(FUZZ_PROV_SRCS) \
		$(wildcard provisioner/*.h)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_PROV_FLAGS) -o $@ fuzz/fuzz_rustshare.c \
	    $(filter-out provisioner/prov_rustshare.c,$(FUZZ_PROV_SRCS)) \
	    $(FUZZ_PROV_LIBS)
