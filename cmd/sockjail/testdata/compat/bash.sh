#!/bin/bash
# bash under the default policy: command and process substitution, and ps.
read -r line
echo "cmdsubst=$(echo "$line" | tr a-z A-Z)"
n=0
while read -r l; do n=$((n + l)); done < <(printf '1\n2\n3\n')
echo "procsubst=$n"
out=${TMPDIR:-/tmp}/ps
ps ax -o pid=,args= > "$out" 2>&1
rc=$?
sed 's/^ *//' "$out"
echo "ps=$rc"
