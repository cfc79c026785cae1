"""Allocation-heavy Python work with a deterministic output (programs.sh runs
it with glibc's malloc and with libsdmm-malloc.so preloaded and compares)."""
import collections
import hashlib
import json
import random
import re
from concurrent.futures import ThreadPoolExecutor

rng = random.Random(20261201)
digest = hashlib.sha256()


def note(label, value):
    text = f"{label}: {value}"
    digest.update(text.encode())
    print(text)


# Dicts and lists of many sizes, built and torn down.
table = {}
for i in range(120_000):
    key = f"k{rng.randrange(50_000)}-{i % 97}"
    table.setdefault(key, []).append(i)
note("keys", len(table))
note("longest", max(len(v) for v in table.values()))
for key in list(table)[::3]:
    del table[key]
note("after delete", len(table))

# Strings: joins, splits, regexes, growth by concatenation (realloc).
words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randrange(1, 12))) for _ in range(60_000)]
text = " ".join(words)
note("text length", len(text))
note("regex matches", len(re.findall(r"\b[a-c]+\b", text)))
grown = ""
for w in words[:20_000]:
    grown += w
note("grown", hashlib.md5(grown.encode()).hexdigest())

# JSON round trips of nested structures.
doc = [{"id": i, "tags": words[i:i + 5], "nested": {"v": [i] * (i % 17)}} for i in range(20_000)]
encoded = json.dumps(doc)
note("json bytes", len(encoded))
note("json equal", json.loads(encoded) == doc)

# Sorting, sets, counters, objects.
numbers = [rng.random() for _ in range(150_000)]
numbers.sort()
note("median", f"{numbers[len(numbers) // 2]:.6f}")
note("distinct words", len(set(words)))
note("top words", collections.Counter(words).most_common(3))


class Node:
    __slots__ = ("value", "children")

    def __init__(self, value):
        self.value = value
        self.children = []


def build(depth, value):
    node = Node(value)
    if depth:
        node.children = [build(depth - 1, value * 3 + k) for k in range(3)]
    return node


def total(node):
    return node.value + sum(total(c) for c in node.children)


note("tree", total(build(8, 1)) % 1_000_003)


# Threads: objects made in one thread, dropped in another.
def work(seed):
    local = random.Random(seed)
    chunk = [bytes(local.randrange(256) for _ in range(local.randrange(1, 300))) for _ in range(3000)]
    return chunk


with ThreadPoolExecutor(max_workers=4) as pool:
    chunks = list(pool.map(work, range(16)))
note("thread bytes", sum(len(b) for c in chunks for b in c))
del chunks
print("digest", digest.hexdigest())
