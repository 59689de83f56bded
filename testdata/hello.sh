#!/bin/bash
# The seed's hello world for dial-up callers (/opt/octoi-helloworld.sh),
# without the `sleep 5` that used to keep the caller from losing the output:
# sockjail's flush-then-close does that job now.
echo "Hello World"
