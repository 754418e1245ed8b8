#!/bin/sh
# C unit tests of ngx_http_objspace_s3.c (t/unit/s3_test.c), TAP.
# Built by `make unit-b` (t/unit/unit-b.mk).
cd "$(dirname "$0")/.." || exit 1
exec build/unit/s3_test
