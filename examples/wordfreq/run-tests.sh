#!/bin/sh
# The example application's test suite: what sysallow profiles.
set -e
cd "$(dirname "$0")"
exec python3 -B -m unittest discover -s tests -q
