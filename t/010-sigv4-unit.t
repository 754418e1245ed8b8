#!/bin/sh
# C unit tests of ngx_http_objspace_sigv4.c (t/unit/sigv4_test.c), TAP:
# AWS's published S3 SigV4 examples plus negative cases.
# Built by `make unit` (t/unit/unit.mk).
cd "$(dirname "$0")/.." || exit 1
exec build/unit/sigv4_test t/data/aws-s3-sigv4-examples.json
