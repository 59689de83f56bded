#!/bin/sh
# A session that is still running when the service is stopped: says it
# started, works for two seconds, then says it is done.
echo started
sleep 2
echo done
