#!/usr/bin/python3
# Python 3 under the default policy: one line per feature, "name=value", or
# "name=ExceptionName errno" where the sandbox refuses it.
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile


def square(x):
    return x * x


def attempt(name, fn):
    try:
        print(f"{name}={fn()}", flush=True)
    except OSError as e:
        print(f"{name}={type(e).__name__} {e.errno}", flush=True)


def temp():
    with tempfile.NamedTemporaryFile(mode="w+") as f:
        f.write("written")
        f.seek(0)
        return f.read()


def sql():
    db = sqlite3.connect(os.path.join(tempfile.gettempdir(), "compat.db"))
    db.execute("create table t (a integer)")
    db.execute("insert into t values (42)")
    return db.execute("select a from t").fetchone()[0]


def pool():
    with multiprocessing.Pool(2) as p:
        return p.map(square, [1, 2, 3])


if __name__ == "__main__":
    line = sys.stdin.readline().strip()
    print(f"stdin={line}", flush=True)
    attempt("fd", lambda: ",".join(sorted(os.listdir("/proc/self/fd"))))
    attempt("cpus", os.cpu_count)
    attempt("subprocess", lambda: subprocess.run(["echo", "child"], capture_output=True, text=True, check=True).stdout.strip())
    attempt("tempfile", temp)
    attempt("sqlite", sql)
    attempt("pool", pool)
