#!/bin/sh
# Prints what the e2e test checks about how the program was started: its
# uid, the filesystem behind /tmp (type, blocks, block size: sockjail's own
# tmpfs has the policy's tmp_size, unlike systemd's PrivateTmp= directory on
# the container's /tmp), whether /tmp starts empty, and the peer variables.
echo "uid=$(id -u)"
echo "tmpfs=$(stat -f -c '%T %b %S' /tmp)"
echo "tmpfiles=$(ls -A /tmp | wc -l)"
echo "remote=$REMOTE_ADDR:$REMOTE_PORT"
echo "tcpremote=$TCPREMOTEIP:$TCPREMOTEPORT"
