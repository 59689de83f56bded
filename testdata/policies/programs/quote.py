#!/usr/bin/python3
"""Answer a caller with one line from the quotes file (python-data.toml)."""
import os
import random

path = os.environ.get("QUOTES", "/srv/sockjail/quotes/quotes.txt")
with open(path, encoding="utf-8") as f:
    quotes = [line.strip() for line in f if line.strip()]
print(random.choice(quotes) if quotes else "(no quotes)", flush=True)
