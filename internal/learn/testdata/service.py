#!/usr/bin/python3
# A service for sockjail learn's tests: it reads a line from its client,
# answers from the files of a data directory, writes into a state
# directory and asks a backend on a loopback TCP port.
import os, socket, sys

base, port = sys.argv[1], int(sys.argv[2])
name = sys.stdin.readline().strip()
data = os.path.join(base, "data")
names = sorted(os.listdir(data))
with open(os.path.join(data, name)) as f:
    content = f.read().strip()
with open(os.path.join(base, "state", "last"), "w") as f:
    f.write(name + "\n")
with socket.create_connection(("127.0.0.1", port)) as s:
    s.sendall(name.encode() + b"\n")
    reply = s.makefile().readline().strip()
print(f"{len(names)} files; {name}: {content}; backend: {reply}", flush=True)
