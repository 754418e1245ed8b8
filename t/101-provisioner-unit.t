#!/bin/sh
# C unit tests of the provisioner (provisioner/test/unit_test.c), TAP:
# sealed.json and AWS SigV4 vectors, id formats, size/duration parsers.
# Built by `make -C provisioner` (all).
cd "$(dirname "$0")/.." || exit 1
if [ ! -x build/provisioner/unit_test ]; then
    make -s -C provisioner >&2 || { echo "1..0 # SKIP cannot build"; exit 0; }
fi
exec build/provisioner/unit_test t/data
