# objspace: build, test, demo.  See README.md and docs/operations.md.
#
#   make deps        apt-get what build, demo and tests need (idempotent)
#   make             build/ngx_http_objspace_module.so against Debian's nginx
#   make test        deps + build + unit tests + the whole suite via prove
#   make demo        redis + Ceph RGW + nginx on loopback, one demo space
#   make demo-stop   stop the demo stack
#   make test-asan   the suite against an ASan+UBSan nginx + module
#   make bench | fuzz | fuzz-long | style | clean

SHELL      := /bin/bash
.DEFAULT_GOAL := build

NGX_SRC    ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
PYTHON     := /usr/bin/python3
BUILD      := $(CURDIR)/build
NGX_BUILD  := $(BUILD)/ngx
MODULE     := $(BUILD)/ngx_http_objspace_module.so
PROVE_JOBS ?= 1
PROVE_ARGS ?=

# Everything the build, the demo and the tests use.  nginx-dev brings the
# configured nginx source tree (/usr/share/nginx/src) and its -dev deps.
DEB_PACKAGES := \
    build-essential make gcc perl pkg-config \
    nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev libexpat1-dev \
    libhiredis-dev libjansson-dev libcurl4-openssl-dev \
    redis-server radosgw ceph-mon ceph-osd ceph-common \
    python3 python3-boto3 python3-redis python3-cryptography \
    awscli s3cmd rclone curl wrk linux-perf valgrind gnupg openssl \
    clang libfuzzer-14-dev \
    docker-registry skopeo aptly \
    chromium fonts-dejavu-core python3-fonttools python3-brotli

# Fragments owned by other parts of the tree; each is optional.
#   t/unit/unit.mk, t/unit/unit-b.mk: target `unit` / `unit-b`; may append
#       TAP-printing executables to UNIT_TESTS so prove runs them too
#   fuzz/fuzz.mk: targets `fuzz`, `fuzz-long`
#   bench/bench.mk: target `bench-sigv4` (and may append to BENCH_TARGETS)
#   bench/gateway.mk: target `bench-gateway` (appends to BENCH_TARGETS)
UNIT_TESTS    :=
BENCH_TARGETS :=
-include t/unit/unit.mk t/unit/unit-b.mk fuzz/fuzz.mk bench/bench.mk \
         bench/gateway.mk
-include bench/provisioner.mk   # `bench-provisioner` (appends)
-include bench/propagation.mk   # `bench-propagation` (appends)
-include bench/cdn.mk           # `bench-cdn`: public frontend (appends)

TEST_PREREQS := $(if $(wildcard t/unit/unit.mk),unit) \
                $(if $(wildcard t/unit/unit-b.mk),unit-b) \
                $(if $(wildcard provisioner/Makefile),provisioner)
BENCH_TARGETS += $(if $(wildcard bench/bench.mk),bench-sigv4)

.PHONY: all build deps test test-only test-asan demo demo-stop bench fuzz \
        fuzz-long style clean provisioner module-force

all: build

build: $(MODULE)

# ---------------------------------------------------------------- deps

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    s=$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null); \
	    [ "$$s" = "install ok installed" ] || echo "$$p"; done); \
	if [ -z "$$missing" ]; then \
	    echo "deps: all $(words $(DEB_PACKAGES)) packages installed"; \
	else \
	    echo "deps: installing:" $$missing; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	    apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	        --no-install-recommends $$missing; \
	fi

# ---------------------------------------------------------------- module

# configure runs again only when `config` (the addon file) or this
# Makefile changes; nginx's generated Makefile tracks the sources and
# headers listed there.
#
# The module is compiled like Debian compiles nginx itself (`nginx -V`):
# -O2 and the hardening flags.  nginx's configure would otherwise use its
# own default, -O (no inlining of small functions: a GET ran about 9% more
# module instructions), and no stack protector.
NGX_CC_OPT = -g -O2 -fstack-protector-strong -Wformat \
             -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
NGX_LD_OPT = -Wl,-z,relro -Wl,-z,now -fPIC

$(NGX_BUILD)/Makefile: config Makefile
	@mkdir -p $(NGX_BUILD)
	@echo "configure: nginx $(NGX_SRC) + $(CURDIR) -> $(NGX_BUILD)"
	@cd $(NGX_SRC) && . ./conf_flags && \
	    flock $(BUILD)/.build.lock ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) \
	        --builddir=$(NGX_BUILD) > $(NGX_BUILD)/configure.log 2>&1 \
	    || { tail -20 $(NGX_BUILD)/configure.log; rm -f $@; exit 1; }

$(MODULE): $(NGX_BUILD)/Makefile module-force
	flock $(BUILD)/.build.lock \
	    $(MAKE) -f $(NGX_BUILD)/Makefile -C $(NGX_SRC) modules
	@if ! cmp -s $(NGX_BUILD)/ngx_http_objspace_module.so $@; then \
	    cp $(NGX_BUILD)/ngx_http_objspace_module.so $@.tmp && \
	    mv $@.tmp $@ && echo "built $@"; fi

module-force: ;

provisioner:
	$(MAKE) -C provisioner

# ---------------------------------------------------------------- tests

# One Ceph RGW for the whole run (tests share it through OBJSPACE_T_RGW_ENV
# and create their own buckets/users); each test file starts its own redis
# and nginx under build/t/<test>/.
# A failed build step does not hide the suite: the rest still runs (the
# tests of a missing piece fail), prove prints its summary, and `make test`
# exits non-zero if any step or test failed.
test: deps
	@rc=0; \
	for t in build $(TEST_PREREQS); do \
	    $(MAKE) --no-print-directory $$t || { rc=1; \
	        echo "make test: step '$$t' FAILED; running the suite anyway"; }; \
	done; \
	$(MAKE) --no-print-directory test-only || rc=1; \
	exit $$rc

test-only:
	@tools/test-run $(PROVE_JOBS) $(PROVE_ARGS) -- t/ $(UNIT_TESTS)

# The suite against nginx 1.22.1 + the module built with ASan + UBSan from
# Debian's source package (tools/asan-build -> build/asan/); fails on any
# sanitizer report (tools/test-asan, docs/operations.md).
test-asan: deps
	@rc=0; \
	for t in build $(TEST_PREREQS); do \
	    $(MAKE) --no-print-directory $$t || rc=1; \
	done; \
	tools/test-asan $(PROVE_JOBS) $(PROVE_ARGS) -- t/ $(UNIT_TESTS) || rc=1; \
	exit $$rc

# ---------------------------------------------------------------- demo

demo: deps build provisioner
	@tools/demo start

demo-stop:
	@tools/demo stop

# ---------------------------------------------------------------- others

bench: build
ifneq ($(strip $(BENCH_TARGETS)),)
	@$(MAKE) --no-print-directory $(BENCH_TARGETS)
else
	@echo "bench: no bench fragments yet (bench/bench.mk)"
endif

ifeq ($(wildcard fuzz/fuzz.mk),)
fuzz fuzz-long:
	@echo "fuzz: no fuzz targets yet (fuzz/fuzz.mk)"
endif

STYLE_DIRS := ngx_objspace_module provisioner
style:
	@$(PYTHON) tools/style-check $(STYLE_DIRS)

clean:
	rm -rf $(BUILD)
