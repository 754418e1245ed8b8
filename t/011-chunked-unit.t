#!/bin/sh
# C unit tests of ngx_http_objspace_chunked.c (t/unit/chunked_test.c), TAP:
# aws-chunked decoding (signed, signed + trailer, unsigned + trailer),
# every split point, tampering, trailing checksums.
# Built by `make unit` (t/unit/unit.mk).
cd "$(dirname "$0")/.." || exit 1
exec build/unit/chunked_test t/data/aws-s3-sigv4-examples.json
