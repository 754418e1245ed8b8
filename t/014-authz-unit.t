#!/bin/sh
# C unit tests of ngx_http_objspace_authz.c (t/unit/authz_test.c), TAP.
# Built by `make unit-b` (t/unit/unit-b.mk).
cd "$(dirname "$0")/.." || exit 1
exec build/unit/authz_test
