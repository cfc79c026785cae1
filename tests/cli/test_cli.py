#!/usr/bin/env python3
"""Tests of the `sdmm` tool (cli/), one source kind per mode.

    test_cli.py MODE --sdmm EXE --sdmm-asan EXE --make-heap EXE --work DIR [mode options]

MODE: file | shm | solana | bpf | corrupt. Every mode makes its heap with a
real producer, runs `sdmm inspect --json` / `sdmm check`, parses the JSON and
compares it with what the producer recorded. Exit 0 pass, 1 fail, 77 skip
(prerequisite missing: reason printed as "SKIP: ...").
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys

SKIP = 77
failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print(f"FAIL {what}")


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def finish(name):
    print(f"cli.{name}: {checks - failures}/{checks} checks passed")
    sys.exit(1 if failures or checks == 0 else 0)


def sdmm(exe, *args, timeout=60):
    """Runs the tool; returns (exit status, stdout, stderr). A signal is a negative status."""
    p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def inspect_json(exe, source, *extra):
    rc, out, err = sdmm(exe, "inspect", "--json", *extra, source)
    try:
        doc = json.loads(out)
    except json.JSONDecodeError as e:
        check(False, f"inspect --json {source}: output is not JSON ({e}): {out[:200]!r} {err[:200]!r}")
        return rc, None
    return rc, doc


def compare_heap(doc, expect, what):
    """The tool's statistics and per-type table against the producer's record."""
    check(doc["check"]["passed"] is True and doc["check"]["status"] == 0, f"{what}: heap check passes")
    check(doc["attach"]["status"] == 0, f"{what}: attach ok")
    if "stats" in expect:
        for key, value in expect["stats"].items():
            check(doc["stats"][key] == value, f"{what}: stats.{key} = {doc['stats'][key]}, expected {value}")
    got = {t["name"]: {"blocks": t["blocks"], "elements": t["elements"]} for t in doc["types"]}
    check(got == expect["types"], f"{what}: blocks by type {got} == {expect['types']}")
    live = sum(t["blocks"] for t in doc["types"])
    check(doc["walk"]["live"] == live == doc["stats"]["live_blocks"] and doc["walk"]["complete"],
          f"{what}: the walk saw every live block ({doc['walk']})")
    check(doc["walk"]["live_bytes"] == doc["stats"]["allocated"],
          f"{what}: live blocks' bytes {doc['walk']['live_bytes']} == allocated {doc['stats']['allocated']}")


def text_checks(exe, source, what):
    rc, out, _ = sdmm(exe, "inspect", source)
    check(rc == 0 and "check    ok" in out and "by type" in out, f"{what}: text output ({rc}): {out[:300]!r}")
    rc, out, _ = sdmm(exe, "check", source)
    check(rc == 0 and out.strip().endswith("check    ok"), f"{what}: `sdmm check` passes ({rc}): {out!r}")


SHM_STATE_OFF = 4096          # usage_off: the page after the header (ffi/sdmm_shared_layout.h)
SHM_OWNERS_OFF = 4096 + 576   # owners_off: after the 576-byte state
SHM_HEADER_ARENA_MAX = 24     # offsetof(sdmm_shm_header, arena_max)


def start_shared_producer(a, name, expect_path, file):
    """A process-shared heap made by two clients (make_heap shared); the
    producer keeps its client open until its stdin closes."""
    args = [a.make_heap, "shared", name, expect_path] + (["file"] if file else [])
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.kill()
        check(False, f"the shared-heap producer started ({line!r}, exit {p.wait()})")
        return None, None
    return p, json.load(open(expect_path))


def no_sanitizer_report(err, what):
    check("runtime error" not in err and "AddressSanitizer" not in err and "LeakSanitizer" not in err,
          f"{what}: the sanitizer build reports nothing ({err[-400:]!r})")


def shared_checks(a, spec, segment, expect, what, damage=True):
    """The tool's clients, owners and usage for a process-shared heap against
    what its producer recorded; then damaged copies of the segment."""
    rc, doc = inspect_json(a.sdmm, spec, "--blocks")
    check(rc == 0 and doc is not None, f"{what}: inspect exit {rc}")
    if not doc:
        return
    check(doc["source"]["format"] == "process-shared heap v3", f"{what}: recognised ({doc['source']['format']})")
    compare_heap(doc, {"stats": expect["stats"], "types": expect["types"]}, what)
    sh = doc["shared"]
    check(sh["errors"] == [] and sh["unowned_blocks"] == 0, f"{what}: no cross-check error ({sh['errors']})")
    check(sh["arena_bytes"] == sh["heap_bytes"] == expect["arena_bytes"] > 64 * 1024
          and sh["arena_max"] == expect["arena_max"],
          f"{what}: the grown arena ({sh['arena_bytes']}, heap {sh['heap_bytes']}, max {sh['arena_max']}) "
          f"is the producer's ({expect['arena_bytes']} of {expect['arena_max']})")
    check(sh["admin"] == expect["admin"], f"{what}: admin {sh['admin']}")
    got = {str(c["slot"]): {"blocks": c["blocks"], "used": c["used"], "quota": c["quota"]} for c in sh["clients"]}
    check(got == expect["clients"], f"{what}: clients {got} == {expect['clients']}")
    check(all(c["charged"] == c["used"] for c in sh["clients"]), f"{what}: every client's blocks add up to its usage")
    admin = next((c for c in sh["clients"] if c["slot"] == expect["admin"]), None)
    other = next((c for c in sh["clients"] if c["slot"] == expect["b"]), None)
    check(admin is not None and admin["pid"] == expect["pid"] and admin["alive"] is True and admin["state"] == "live",
          f"{what}: the producer's client is alive with its pid ({admin})")
    check(other is not None and other["pid"] == 0 and other["alive"] is False and other["state"] == "live"
          and other["grants"] == [expect["admin"]],
          f"{what}: the closed client is detached, its grant kept ({other})")
    check(expect["clients"][str(expect["admin"])]["used"] == expect["used_a"], f"{what}: the producer's books agree")
    owners = {b["handle"]: b.get("owner_slot") for b in doc["blocks"] if b["state"] == "live"}
    want = {b["handle"]: b["owner"] for b in expect["blocks"]}
    check(owners == want, f"{what}: every live block's owner is what sdmm_shared_owner says "
          f"({sum(owners.get(h) != o for h, o in want.items())} differ, {len(owners)} vs {len(want)} blocks)")
    rc, out, _ = sdmm(a.sdmm, "inspect", spec)
    check(rc == 0 and "clients  slot" in out and "detached" in out and "check    ok" in out,
          f"{what}: text output lists the clients ({out[-600:]!r})")

    if not damage:
        return
    # Damaged copies: the books must fail the check with a clear message,
    # in both builds, and the sanitizer build must report nothing.
    good = open(segment, "rb").read()
    arena_off = doc["source"]["arena_offset"]
    live = sorted((b for b in doc["blocks"] if b["state"] == "live"), key=lambda b: b["offset"])
    free = next(b for b in doc["blocks"] if b["state"] == "free")
    b_slot = expect["b"]
    cases = []
    d = bytearray(good)  # client b's usage counter off by 8
    at = SHM_STATE_OFF + 8 * b_slot
    d[at:at + 8] = (int.from_bytes(d[at:at + 8], "little") + 8).to_bytes(8, "little")
    cases.append(("usage", d, f"client {b_slot}: usage counter says"))
    d = bytearray(good)  # an owner byte in the middle of a free block
    d[SHM_OWNERS_OFF + (free["offset"] + 16) // 8] = 1
    cases.append(("stray-owner", d, "owner bytes are set where no live block starts"))
    d = bytearray(good)  # a live block's owner byte cleared
    d[SHM_OWNERS_OFF + (live[0]["offset"] + 8) // 8] = 0
    cases.append(("no-owner", d, "live blocks have no valid owner byte"))
    d = bytearray(good)  # a live block handed to a slot nobody uses
    d[SHM_OWNERS_OFF + (live[1]["offset"] + 8) // 8] = 40
    cases.append(("free-slot", d, "client 39: 1 live blocks name it as owner, but its slot is not in use"))
    d = bytearray(good)  # out-of-range owner byte
    d[SHM_OWNERS_OFF + (live[2]["offset"] + 8) // 8] = 200
    cases.append(("bad-owner", d, "owner byte 200"))
    d = bytearray(good)  # the recorded arena length disagrees with the heap
    at = SHM_STATE_OFF + 8 * 64
    d[at:at + 8] = (int.from_bytes(d[at:at + 8], "little") * 2).to_bytes(8, "little")
    cases.append(("arena-len", d, "the state records an arena of"))
    d = bytearray(good)  # the arena room: geometry no longer matches
    d[SHM_HEADER_ARENA_MAX + 2] ^= 0x01
    cases.append(("header", d, "shared-heap header is damaged"))
    cases.append(("truncated", bytearray(good[: len(good) // 2]), "shared heap is cut short"))
    d = bytearray(good)  # version
    d[8] = 99
    cases.append(("version", d, "of another version (version 99"))
    for name, data, message in cases:
        path = os.path.join(a.work, f"damaged-{name}.bin")
        open(path, "wb").write(bytes(data))
        for exe in (a.sdmm, a.sdmm_asan):
            rc, out, err = sdmm(exe, "check", path)
            check(rc == 1 and message in out + err, f"{what} {name}: check fails (exit {rc}) saying "
                  f"{message!r}: {(out + err)[-400:]!r}")
            rc, js, err = sdmm(exe, "inspect", "--json", "--blocks", path)
            try:
                jd = json.loads(js)
            except json.JSONDecodeError:
                jd = None
            check(rc == 1 and jd is not None and jd["check"]["passed"] is False, f"{what} {name}: JSON, not passed")
            if exe == a.sdmm_asan:
                no_sanitizer_report(err, f"{what} {name}")
    # Random damage in the header, the state and the owner table: the
    # sanitizer build exits 0 or 1 with JSON, never crashes.
    rng = random.Random(5)
    crashes = 0
    for i in range(60):
        d = bytearray(good)
        for _ in range(1 + i % 4):
            d[rng.randrange(arena_off)] ^= 1 << rng.randrange(8)
        path = os.path.join(a.work, "damaged-random.bin")
        open(path, "wb").write(bytes(d))
        rc, js, err = sdmm(a.sdmm_asan, "inspect", "--json", "--blocks", path)
        try:
            json.loads(js)
        except json.JSONDecodeError:
            rc = -999
        if rc not in (0, 1) or "runtime error" in err or "AddressSanitizer" in err:
            crashes += 1
            print(f"FAIL random shared damage {i}: exit {rc}, {err[-400:]!r}")
    check(crashes == 0, f"{what}: random damage to the header, state and owners: {crashes} crashes")


def mode_file(a):
    heap, expect_path = os.path.join(a.work, "heap.bin"), os.path.join(a.work, "expect.json")
    subprocess.run([a.make_heap, "file", heap, expect_path], check=True)
    expect = json.load(open(expect_path))
    for spec in (heap, "file:" + heap):
        rc, doc = inspect_json(a.sdmm, spec)
        check(rc == 0 and doc is not None, f"inspect {spec}: exit {rc}")
        if doc:
            check(doc["source"]["format"] == "raw arena" and doc["source"]["arena_offset"] == 0,
                  f"{spec}: recognised as a raw arena at offset 0")
            compare_heap(doc, expect, spec)
    text_checks(a.sdmm, heap, "file")
    # --blocks: every block listed, in address order, live ones with their type.
    rc, doc = inspect_json(a.sdmm, heap, "--blocks")
    if doc:
        offs = [b["offset"] for b in doc["blocks"]]
        check(offs == sorted(offs) and len(offs) == doc["walk"]["blocks"], "--blocks lists the walk in address order")
        check(sum(1 for b in doc["blocks"] if b["state"] == "live") == expect["stats"]["live_blocks"],
              "--blocks: live blocks")
    # The arena inside a container: --offset.
    boxed = os.path.join(a.work, "boxed.bin")
    with open(boxed, "wb") as f:
        f.write(bytes(range(256)) * 16 + open(heap, "rb").read())
    rc, doc = inspect_json(a.sdmm, boxed)
    check(rc == 0 and doc and doc["source"]["arena_offset"] == 4096
          and doc["source"]["format"] == "raw bytes, arena found by scanning",
          f"a heap behind 4096 other bytes is found by scanning ({rc}, {doc and doc['source']})")
    if doc:
        compare_heap(doc, expect, "found by scanning")
    rc, doc = inspect_json(a.sdmm, boxed, "--offset", "4096")
    check(rc == 0 and doc and doc["source"]["arena_offset"] == 4096, f"--offset 4096 ({rc})")
    if doc:
        compare_heap(doc, expect, "--offset 4096")
    rc, doc = inspect_json(a.sdmm, boxed, "--offset", "0")
    check(rc == 1 and doc and doc["check"]["passed"] is False, f"--offset 0 does not scan: no heap there ({rc})")
    rc, _, err = sdmm(a.sdmm, "inspect", os.path.join(a.work, "no-such-file"))
    check(rc == 2 and "cannot open" in err, f"a missing file: exit 2 ({rc}, {err!r})")
    rc, _, _ = sdmm(a.sdmm, "frobnicate", heap)
    check(rc == 2, "an unknown command: exit 2")
    # A file-backed process-shared heap, given as a path.
    seg = os.path.join(a.work, "shared-heap")
    producer, sexpect = start_shared_producer(a, seg, os.path.join(a.work, "shared-expect.json"), True)
    if producer:
        try:
            for spec in (seg, "file:" + seg):
                shared_checks(a, spec, seg, sexpect, f"file-backed shared heap {spec}", damage=spec == seg)
        finally:
            producer.stdin.close()
            check(producer.wait(timeout=60) == 0, "the file-backed shared-heap producer exits cleanly")
        # Every client gone: the heap stays in its file, both clients detached.
        rc, doc = inspect_json(a.sdmm, seg)
        check(rc == 0 and doc and all(not c["alive"] for c in doc["shared"]["clients"])
              and doc["shared"]["errors"] == [], f"the file after its clients exited ({rc})")
    finish("file")


def mode_shm(a):
    name = f"/sdmm-cli-test-{os.getpid()}"
    expect_path = os.path.join(a.work, "expect.json")
    if not os.path.isdir("/dev/shm"):
        skip("no /dev/shm (POSIX shared memory) on this machine")
    subprocess.run([a.make_heap, "shm", name, expect_path], check=True)
    try:
        expect = json.load(open(expect_path))
        before = open("/dev/shm" + name, "rb").read()
        rc, doc = inspect_json(a.sdmm, "shm:" + name)
        check(rc == 0 and doc is not None, f"inspect shm:{name}: exit {rc}")
        if doc:
            check(doc["source"]["kind"] == "shm" and doc["source"]["bytes"] == expect["arena_bytes"], "shm source")
            compare_heap(doc, expect, "shm")
        text_checks(a.sdmm, "shm:" + name, "shm")
        # The mapping is read-only (PROT_READ): a write by attach/check/walk
        # would have killed the tool with SIGSEGV; and the bytes are unchanged.
        check(open("/dev/shm" + name, "rb").read() == before, "the shared memory is unchanged")
        rc, _, err = sdmm(a.sdmm, "inspect", "shm:/sdmm-cli-test-none")
        check(rc == 2 and "shm_open" in err, f"a missing shm name: exit 2 ({rc})")
    finally:
        subprocess.run([a.make_heap, "unlink", name], check=False)
    # A process-shared heap (sdmm_shared_*): clients, owners, usage.
    name = f"/sdmm-cli-shared-{os.getpid()}"
    producer, expect = start_shared_producer(a, name, os.path.join(a.work, "shared-expect.json"), False)
    if producer:
        try:
            before = open("/dev/shm" + name, "rb").read()
            shared_checks(a, "shm:" + name, "/dev/shm" + name, expect, "shm shared heap")
            check(open("/dev/shm" + name, "rb").read() == before, "the shared heap is unchanged by the tool")
        finally:
            producer.stdin.close()
            check(producer.wait(timeout=60) == 0, "the shared-heap producer exits cleanly")
            subprocess.run([a.make_heap, "unlink", name], check=False)
    finish("shm")


def src_offset(doc):
    return doc["source"]["arena_offset"]


def mode_solana(a):
    if shutil.which("node") is None:
        skip("node is not installed (run tools/setup.d/solana.sh)")
    modules = os.path.join(os.path.dirname(a.node_script), "node_modules", "litesvm")
    if not os.path.isdir(modules):
        skip("tests/solana/node_modules missing (run tools/setup.d/solana.sh: npm ci)")
    if not os.path.isfile(os.path.join(a.sbf_dir, "memory-service.so")):
        skip(f"{a.sbf_dir}/memory-service.so is not built (needs clang-22/llvm-22: run tools/setup.sh)")
    p = subprocess.run(["node", a.node_script, a.sbf_dir, a.work], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"the dump script ran: {p.stdout[-500:]} {p.stderr[-500:]}")
    if p.returncode != 0:
        finish("solana")
    expect = json.load(open(os.path.join(a.work, "expect.json")))
    raw, js = os.path.join(a.work, "account.bin"), os.path.join(a.work, "account.json")
    for spec in (raw, "solana:" + raw, js, "solana:" + js):
        rc, doc = inspect_json(a.sdmm, spec)
        check(rc == 0 and doc is not None, f"inspect {spec}: exit {rc}")
        if not doc:
            continue
        src = doc["source"]
        check(src["kind"] == "solana" and src["format"].startswith("memory-service account v1")
              and src["bytes"] == expect["bytes"] and src["arena_offset"] == 64 + 88 * expect["slots"],
              f"{spec}: a memory-service account with the arena after the owner table ({src})")
        compare_heap(doc, {"stats": expect["stats"], "types": expect["types"]}, spec)
        svc = doc["service"]
        check(svc["slots"] == expect["slots"] and svc["owners_in_use"] == expect["owners_count"]
              and svc["default_quota"] == expect["default_quota"] and svc["authority"] == expect["authority"],
              f"{spec}: service header ({svc['slots']}, {svc['owners_in_use']}, {svc['authority']})")
        got = [{k: o[k] for k in ("key", "delegate", "quota", "used", "blocks")} for o in svc["owners"]]
        check(got == expect["owners"], f"{spec}: owners as the program reports them: {got} vs {expect['owners']}")
        check(all(o["walk_bytes"] == o["used"] and o["walk_blocks"] == o["blocks"] for o in svc["owners"])
              and svc["errors"] == [], f"{spec}: every block found under its owner ({svc['errors']})")
    rc, out, _ = sdmm(a.sdmm, "inspect", js)
    check(rc == 0 and expect["owners"][0]["key"] in out and "owners   2 of 8 slots" in out
          and f"delegate {expect['owners'][1]['delegate']}" in out,
          f"text output names the owners: {out[:400]!r}")
    # Account data of another program: a heap behind 40 bytes of its own
    # state, as getAccountInfo JSON; found by scanning.
    import base64
    heap_bytes = open(raw, "rb").read()[src_offset(doc):] if doc else b""
    other = bytes(range(40)) + heap_bytes
    path = os.path.join(a.work, "other.json")
    open(path, "w").write(json.dumps({"result": {"value": {"data": [base64.b64encode(other).decode(), "base64"]}}}))
    rc, odoc = inspect_json(a.sdmm, path)
    check(rc == 0 and odoc and odoc["source"]["kind"] == "solana" and odoc["source"]["arena_offset"] == 40
          and odoc["source"]["format"] == "raw bytes, arena found by scanning (from getAccountInfo JSON)",
          f"a heap inside another program's account data is found ({rc}, {odoc and odoc['source']})")
    # The owner table disagreeing with the heap is a failed check.
    data = bytearray(open(raw, "rb").read())
    used_at = 64 + 72  # slot 0's `used` (key 32, delegate 32, quota 8)
    data[used_at] ^= 0x08
    bad = os.path.join(a.work, "owner-damaged.bin")
    open(bad, "wb").write(bytes(data))
    rc, doc = inspect_json(a.sdmm, bad)
    check(rc == 1 and doc and doc["check"]["status"] == 0 and doc["service"]["errors"],
          f"a damaged owner table fails the check though the heap is intact ({rc})")
    # RPC answers that hold no account.
    for name, text, want in [
        ("null.json", '{"jsonrpc":"2.0","result":{"context":{"slot":1},"value":null},"id":1}', "does not exist"),
        ("zstd.json", '{"result":{"value":{"data":["KLUv/QBYAQAA","base64+zstd"]}}}', "not plain base64"),
        ("badb64.json", '{"result":{"value":{"data":["@@@@","base64"]}}}', "not valid base64"),
    ]:
        path = os.path.join(a.work, name)
        open(path, "w").write(text)
        rc, _, err = sdmm(a.sdmm, "inspect", path)
        check(rc == 1 and want in err, f"{name}: exit 1 with '{want}' ({rc}, {err!r})")
    finish("solana")


def mode_bpf(a):
    if a.bpf_missing:
        skip(a.bpf_missing)
    dump, expect_path = os.path.join(a.work, "pool.dump"), os.path.join(a.work, "expect.json")
    p = subprocess.run([a.bpf_dump, a.bpf_object, dump, expect_path], capture_output=True, text=True, timeout=120)
    if p.returncode == SKIP:
        skip(p.stdout.strip().removeprefix("SKIP: ") or "bpf() refused")
    check(p.returncode == 0, f"the kernel made a pool: {p.stdout[-400:]} {p.stderr[-400:]}")
    if p.returncode != 0:
        finish("bpf")
    expect = json.load(open(expect_path))
    for spec in (dump, "bpf:" + dump):
        rc, doc = inspect_json(a.sdmm, spec)
        check(rc == 0 and doc is not None, f"inspect {spec}: exit {rc}")
        if doc:
            check(doc["source"]["kind"] == "bpf" and doc["source"]["format"] == "BPF pool dump v1"
                  and doc["source"]["arena_offset"] == 32 and doc["source"]["arena_bytes"] == expect["arena_bytes"],
                  f"{spec}: a BPF pool dump, arena after the 32-byte header ({doc['source']})")
            compare_heap(doc, expect, spec)
    # The raw map value (no header) is a pool too.
    raw = os.path.join(a.work, "pool.value")
    open(raw, "wb").write(open(dump, "rb").read()[32:])
    rc, doc = inspect_json(a.sdmm, "bpf:" + raw)
    check(rc == 0 and doc and doc["source"]["format"] == "BPF pool (raw map value)", f"raw map value ({rc})")
    if doc:
        compare_heap(doc, expect, "raw map value")
    # A header that does not match the file.
    bad = bytearray(open(dump, "rb").read())
    bad[12] = 0x01  # pool bytes no longer a power of two
    badp = os.path.join(a.work, "pool-bad.dump")
    open(badp, "wb").write(bytes(bad))
    rc, _, err = sdmm(a.sdmm, "inspect", badp)
    check(rc == 1 and "header" in err, f"a damaged dump header: exit 1 ({rc}, {err!r})")
    finish("bpf")


def mode_corrupt(a):
    """Damaged inputs against the sanitizer build: exit 0 or 1, never a crash,
    always JSON; a damaged heap must not pass its check by accident too often."""
    heap, expect_path = os.path.join(a.work, "heap.bin"), os.path.join(a.work, "expect.json")
    subprocess.run([a.make_heap, "file", heap, expect_path], check=True)
    good = open(heap, "rb").read()
    rng = random.Random(11)
    cases = []
    # One bit of the recorded geometry flipped (magic, version, arena_len,
    # first_block, sentinel, starts_map, class_count: bytes 0-27; seal: 32-35):
    # attach must refuse every one.
    geometry = [(f"geometry{i}", i) for i in range(40)]
    for name, i in geometry:
        d = bytearray(good)
        byte = rng.choice([*range(28), *range(32, 36)])
        d[byte] ^= 1 << rng.randrange(8)
        cases.append((name, bytes(d)))
    # Random bytes flipped, anywhere or in the control block and block-start
    # map; words overwritten. Flips in free space or element data leave a
    # valid heap, so these may pass or fail; they must not crash.
    for i in range(120):
        d = bytearray(good)
        region = len(d) if i % 2 else 2048
        for _ in range(1 + i % 8):
            d[rng.randrange(region)] ^= 1 << rng.randrange(8)
        cases.append((f"flip{i}", bytes(d)))
    for i in range(60):
        d = bytearray(good)
        at = rng.randrange(len(d) // 8) * 8
        d[at:at + 8] = rng.getrandbits(64).to_bytes(8, "little")
        cases.append((f"word{i}", bytes(d)))
    # Truncated, empty, tiny, random, all-ones.
    for n in (0, 1, 7, 8, 511, 512, 513, 4096, len(good) - 8, len(good) - 1):
        cases.append((f"trunc{n}", good[:n]))
    cases.append(("random", bytes(rng.getrandbits(8) for _ in range(70000))))
    cases.append(("ones", b"\xff" * 65536))
    # Headers of the other formats over junk.
    svc = bytearray(65536)
    svc[0:8] = b"SDMMSVC1"
    svc[8:12] = (1).to_bytes(4, "little")
    svc[12:16] = (64 + 88 * 4).to_bytes(4, "little")
    svc[16:20] = (4).to_bytes(4, "little")
    svc[20:24] = (4000).to_bytes(4, "little")  # owners past the slots
    svc[64 + 88 * 4:] = good[: 65536 - (64 + 88 * 4)]  # a heap recorded longer than what follows
    cases.append(("svc-owners", bytes(svc)))
    svc2 = bytearray(svc)
    svc2[16:20] = (0xFFFFFFFF).to_bytes(4, "little")
    cases.append(("svc-slots", bytes(svc2)))
    bpf = b"SDMMBPF1" + (1).to_bytes(4, "little") + (1 << 30).to_bytes(4, "little") + bytes(16) + good
    cases.append(("bpf-size", bpf))
    cases.append(("json-junk", b'{"result":{"value":{"data":["' + b"A" * 1001 + b'","base64"]}}}'))
    cases.append(("json-cut", b'{"result":{"value":{"data":["AAAA'))
    crashes = 0
    passed = set()
    for name, data in cases:
        path = os.path.join(a.work, "case.bin")
        open(path, "wb").write(data)
        rc, out, err = sdmm(a.sdmm_asan, "inspect", "--json", "--blocks", path)
        ok = rc in (0, 1)
        try:
            doc = json.loads(out)
        except json.JSONDecodeError:
            doc = None
            ok = False
        if not ok:
            crashes += 1
            print(f"FAIL case {name}: exit {rc}, stderr {err[-600:]!r}, stdout {out[:200]!r}")
        if doc and doc.get("check", {}).get("passed"):
            passed.add(name)
            check(rc == 0, f"case {name}: a passing check exits 0")
        elif doc:
            check(rc == 1, f"case {name}: a failing check exits 1 ({rc})")
    check(crashes == 0, f"{crashes} of {len(cases)} damaged inputs crashed the tool or gave no JSON")
    wrong = [n for n, _ in geometry if n in passed]
    check(not wrong, f"damaged geometry passed the check: {wrong}")
    flips = [n for n, _ in cases if n.startswith(("flip", "word"))]
    failed_flips = [n for n in flips if n not in passed]
    check(len(failed_flips) > 0, "some random damage is caught (the check can fail)")
    print(f"{len(cases)} damaged inputs: {len(passed)} still pass the heap check, {len(cases) - len(passed)} fail it, "
          f"{crashes} crashes; random damage caught in {len(failed_flips)} of {len(flips)}")
    finish("corrupt")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["file", "shm", "solana", "bpf", "corrupt"])
    ap.add_argument("--sdmm", required=True)
    ap.add_argument("--sdmm-asan", required=True)
    ap.add_argument("--make-heap", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--node-script")
    ap.add_argument("--sbf-dir")
    ap.add_argument("--bpf-dump")
    ap.add_argument("--bpf-object")
    ap.add_argument("--bpf-missing")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    {"file": mode_file, "shm": mode_shm, "solana": mode_solana, "bpf": mode_bpf, "corrupt": mode_corrupt}[a.mode](a)


if __name__ == "__main__":
    main()
