#!/bin/sh
# A script for sockjail learn's tests: grep and date.
read -r pattern
grep -c "$pattern" "$1"
date -u -d @0 +%Y
