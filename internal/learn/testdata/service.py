#!/usr/bin/python3
# A service for sockjail learn's tests. Its client sends one line,
# "FILE PORT [affinity]": it reads FILE from the data directory, writes its
# name into the state directory, asks the backend on loopback port PORT,
# and (with "affinity") makes one more syscall, sched_getaffinity. A
# failure is answered with its errno's name.
import errno, os, socket, sys

base = sys.argv[1]
words = sys.stdin.readline().split()
name, port = words[0], int(words[1])
# Each session runs as a uid of its own: the state file stays writable
# for the next.
os.umask(0)
try:
    with open(os.path.join(base, "data", name)) as f:
        content = f.read().strip()
    with open(os.path.join(base, "state", "last"), "w") as f:
        f.write(name + "\n")
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(name.encode() + b"\n")
        reply = s.makefile().readline().strip()
    if "affinity" in words[2:]:
        os.sched_getaffinity(0)
except OSError as e:
    print("error", errno.errorcode.get(e.errno, e.errno), flush=True)
    sys.exit(1)
print(f"{name}: {content}; backend: {reply}", flush=True)
