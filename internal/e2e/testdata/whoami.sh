#!/bin/sh
# Prints what the e2e test checks about how the program was started: its
# uid, the mount behind /tmp (sockjail's own tmpfs, not systemd's
# PrivateTmp= bind mount), whether /tmp starts empty, and the peer
# variables.
echo "uid=$(id -u)"
echo "tmpmount=$(awk '$5 == "/tmp"' /proc/self/mountinfo | tail -n 1)"
echo "tmpfiles=$(ls -A /tmp | wc -l)"
echo "remote=$REMOTE_ADDR:$REMOTE_PORT"
echo "tcpremote=$TCPREMOTEIP:$TCPREMOTEPORT"
