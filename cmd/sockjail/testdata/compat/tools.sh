#!/bin/sh
# coreutils, grep, sed, awk, date, id and hostname under the default policy.
read -r line
echo "sed=$(echo "$line" | sed 's/world/sandbox/')"
echo "grep=$(printf 'a\nb\na\n' | grep -c a)"
echo "awk=$(printf 'x 1\ny 2\nz 3\n' | awk '{ s += $2 } END { print s }')"
echo "sort=$(printf 'c\na\nb\n' | sort | tr '\n' ' ')"
echo "seq=$(seq 3 | paste -sd,)"
echo "wc=$(printf 'one two three' | wc -w)"
echo "date=$(date -u -d @86400 +%Y-%m-%d)"
echo "id=$(id -u)"
echo "hostname=$(hostname)"
f=${TMPDIR:-/tmp}/f
echo "tmp=$(echo x > "$f" && cat "$f" && rm "$f" && echo gone)"
