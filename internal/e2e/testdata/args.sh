#!/bin/sh
# Writes each argument followed by a NUL byte, so the e2e test can check
# that systemd handed the program exactly the arguments given to
# `sockjail unit`.
printf '%s\0' "$@"
