#!/usr/bin/env python3
"""An outsider's black-box fuzz of every RPC of a running `continuum up` (issue #17's "Done when").

It knows nothing of Continuum's code: it learns the services, methods and message types through server
reflection, then sends, to every RPC, structure-aware messages built from the descriptors (random values,
unknown enum values, extreme numbers, long and odd strings, long lists), byte mutations of those messages,
random bytes, a 4.5 MB message and a 5,000-deep nesting; and on the two streaming RPCs, streams with garbage
mid-stream and streams cancelled by the client. Every answer is checked:

- no INTERNAL or UNKNOWN answer (those are the service's own faults, and page on-call);
- no answer over 16 KB of metadata (headers + trailers, status details included);
- no hang (every call has a deadline; the server-streaming watch is cancelled by us);
- nothing stored by a call answered with an error: around every such call the SQLite files of the data
  directory are compared (`PRAGMA data_version`, then row counts of every table when it moved);
- the process's resident memory (sampled from /proc while the fuzz runs) stays under --max-rss-mb;
- no string the fuzz sent (each carries a marker) echoed in the process's log (--log), and no panic in it.

The stack must run with the rate limit raised (CONTINUUM_RATE_LIMIT_PER_MINUTE), or the limiter answers
instead of the decoders; the fuzz fails when more than 1% of its answers are the limiter's.

Usage (a token with every user role of one organization, from `continuum token mint`):
  CONTINUUM_TOKEN=... blackbox_fuzz.py --host 127.0.0.1 --ports I,M,R,W --pid PID --data-dir DIR \
      [--log up.log] [--per-rpc 200] [--seed 1] [--max-rss-mb 200]
Exit status 0 when every check holds; 1 with the findings otherwise.
Needs: pip install grpcio grpcio-reflection protobuf
"""
import argparse
import glob
import os
import random
import sqlite3
import string
import sys
import threading
import time
import uuid

import grpc
from google.protobuf import descriptor as D
from google.protobuf.message_factory import GetMessageClass

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".ci"))
from smoke_reflection import list_services, pool_for  # noqa: E402  (the smoke test's reflection client)

MARKER = "zq" + uuid.uuid4().hex[:10]   # in every generated string, looked for in the log afterwards
METADATA_LIMIT = 16 * 1024
DEADLINE_S = 20.0
MUTATING = ("Submit", "Record", "Revoke", "Complete", "Upsert", "Update", "Import", "Create", "Transition",
            "Enqueue", "Open", "Respond", "Remove", "Assign")


class Findings:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.streams = 0
        self.codes = {}
        self.bad = []          # (rpc, kind, what)
        self.max_metadata = 0
        self.rate_limited = 0

    def answer(self, rpc, kind, code, metadata_bytes, details):
        with self.lock:
            self.calls += 1
            self.codes[code.name] = self.codes.get(code.name, 0) + 1
            self.max_metadata = max(self.max_metadata, metadata_bytes)
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "rate limit" in (details or "").lower():
                self.rate_limited += 1
            if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                self.bad.append((rpc, kind, f"{code.name}: {details[:200]}"))
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                self.bad.append((rpc, kind, "no answer within the deadline (hang)"))
            if metadata_bytes > METADATA_LIMIT or (code == grpc.StatusCode.RESOURCE_EXHAUSTED
                                                   and "metadata" in (details or "")):
                self.bad.append((rpc, kind, f"{metadata_bytes} bytes of metadata: {details[:120]}"))

    def finding(self, rpc, kind, what):
        with self.lock:
            self.bad.append((rpc, kind, what))


def metadata_size(*groups):
    total = 0
    for group in groups:
        for key, value in group or ():
            total += len(key) + (len(value) if isinstance(value, (bytes, str)) else 0)
    return total


# ---------------------------------------------------------------------------------------------- generation

class Gen:
    def __init__(self, rng, org):
        self.rng = rng
        self.org = org

    def string(self, name):
        r = self.rng.random()
        if name.endswith("_id") or name.endswith("_ids") or name == "cursor":
            if r < 0.5:
                return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            if r < 0.6 and "organization" in name:
                return self.org
        if r < 0.1:
            return ""
        if r < 0.2:
            return MARKER + "x" * self.rng.choice([100, 1000, 20000])
        if r < 0.3:
            return MARKER + "".join(self.rng.choice("\u00e9\u4e2d\U0001F600\u202e\u0000\n\t\"'<>")
                                    for _ in range(self.rng.randint(1, 40)))
        if r < 0.4:
            return self.rng.choice(["en", "es", "fr-CA", "x-klingon", "1", "-", "PHQ-9", "null", "true"])
        return MARKER + "".join(self.rng.choice(string.printable) for _ in range(self.rng.randint(0, 30)))

    def scalar(self, f):
        t = f.type
        rng = self.rng
        if t == D.FieldDescriptor.TYPE_STRING:
            return self.string(f.name)
        if t == D.FieldDescriptor.TYPE_BYTES:
            return rng.randbytes(rng.choice([0, 1, 16, 300]))
        if t == D.FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if t in (D.FieldDescriptor.TYPE_DOUBLE, D.FieldDescriptor.TYPE_FLOAT):
            return rng.choice([0.0, -0.0, 1.0, -1.0, 0.5, 1e308, -1e308, float("inf"), float("nan"),
                               rng.uniform(-1e6, 1e6)]) if t == D.FieldDescriptor.TYPE_DOUBLE \
                else rng.choice([0.0, 1.0, -1.0, 0.5, float("inf"), float("nan"), rng.uniform(-1e3, 1e3)])
        if t == D.FieldDescriptor.TYPE_ENUM:
            values = [v.number for v in f.enum_type.values]
            return rng.choice(values) if rng.random() < 0.8 else rng.choice([-1, 99, 2**31 - 1, -2**31])
        if t in (D.FieldDescriptor.TYPE_UINT32, D.FieldDescriptor.TYPE_FIXED32):
            return rng.choice([0, 1, 3, 10, 100, 2**31, 2**32 - 1, rng.randint(0, 1000)])
        if t in (D.FieldDescriptor.TYPE_UINT64, D.FieldDescriptor.TYPE_FIXED64):
            return rng.choice([0, 1, 10, 2**63, 2**64 - 1, rng.randint(0, 10**6)])
        if t in (D.FieldDescriptor.TYPE_INT64, D.FieldDescriptor.TYPE_SINT64, D.FieldDescriptor.TYPE_SFIXED64):
            return rng.choice([0, 1, -1, 2**63 - 1, -2**63, rng.randint(-10**6, 10**12)])
        return rng.choice([0, 1, -1, 2, 3, 4, 27, 100, 2**31 - 1, -2**31, rng.randint(-1000, 1000)])

    def repeat_count(self):
        r = self.rng.random()
        if r < 0.4:
            return 0
        if r < 0.9:
            return self.rng.randint(1, 4)
        if r < 0.98:
            return self.rng.randint(5, 120)
        return 10_000

    def fill(self, msg, depth):
        desc = msg.DESCRIPTOR
        chosen = {}
        for oneof in desc.oneofs:
            if oneof.fields and self.rng.random() < 0.9:
                chosen[oneof.name] = self.rng.choice(oneof.fields).name
        for f in desc.fields:
            if f.containing_oneof is not None and chosen.get(f.containing_oneof.name) != f.name:
                continue
            if f.containing_oneof is None and self.rng.random() < 0.2:
                continue   # left unset
            is_message = f.type == D.FieldDescriptor.TYPE_MESSAGE
            if is_repeated(f):
                if is_message and f.message_type.GetOptions().map_entry:
                    target = getattr(msg, f.name)
                    kf, vf = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
                    for _ in range(min(self.repeat_count(), 200)):
                        key = self.scalar(kf)
                        if vf.type == D.FieldDescriptor.TYPE_MESSAGE:
                            if depth < 5:
                                self.fill(target[key], depth + 1)
                        else:
                            target[key] = self.scalar(vf)
                    continue
                n = self.repeat_count()
                target = getattr(msg, f.name)
                if is_message:
                    if depth >= 5:
                        continue
                    n = min(n, 300)   # 10,000 nested messages each with strings: a message over 4 MB
                    for _ in range(n):
                        self.fill(target.add(), depth + 1)
                else:
                    one = self.scalar(f)
                    target.extend([one if self.rng.random() < 0.5 else self.scalar(f) for _ in range(n)])
            elif is_message:
                if depth < 6:
                    self.fill(getattr(msg, f.name), depth + 1)
            else:
                try:
                    setattr(msg, f.name, self.scalar(f))
                except (ValueError, TypeError):
                    pass   # e.g. an out-of-range number for this field's width: leave it unset

    def message(self, desc):
        msg = GetMessageClass(desc)()
        self.fill(msg, 0)
        return msg.SerializeToString()

    def mutate(self, data):
        rng = self.rng
        b = bytearray(data or b"\x0a\x00")
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            i = rng.randrange(len(b)) if b else 0
            if op < 0.35 and b:
                b[i] ^= 1 << rng.randrange(8)
            elif op < 0.55:
                b[i:i] = rng.randbytes(rng.randint(1, 8))
            elif op < 0.7 and b:
                del b[i:i + rng.randint(1, 8)]
            elif op < 0.8 and b:
                b[i] = rng.choice([0x00, 0x80, 0xff, 0x7f])
            elif op < 0.9:
                b = b[: rng.randrange(len(b) + 1)]
            else:
                b += rng.choice([b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x0a\xff\xff\xff\x0f",
                                 b"\x12\x02\xc3\x28"])   # overlong varint, huge length, invalid UTF-8
        return bytes(b)


def is_repeated(f):
    # protobuf 6 has `is_repeated`; older releases only `label`.
    return f.is_repeated if hasattr(f, "is_repeated") else f.label == D.FieldDescriptor.LABEL_REPEATED


def deep_nesting(depth):
    inner = b""
    for _ in range(depth):
        inner = b"\x0a" + encode_varint(len(inner)) + inner
    return inner


def encode_varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# ------------------------------------------------------------------------------------------ stored-records

class Store:
    """Watches the SQLite files of the data directory: did a call answered with an error store anything?

    `before()` takes a baseline when anything changed since the last one (a worker's writes are not the
    call's); `after_error()` compares with it, first by `PRAGMA data_version` (cheap), then by row counts.
    After an accepted write, `settle()` waits until the workers it started are done (the files stop moving)."""

    def __init__(self, data_dir):
        self.conns = {}
        for path in sorted(glob.glob(os.path.join(data_dir, "**", "*.db"), recursive=True)):
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
            self.conns[os.path.basename(path)] = conn
        if not self.conns:
            raise SystemExit(f"no SQLite files under {data_dir}")
        self.seen = self.versions()
        self.baseline = self.counts()
        self.found = []   # (rpc, kind, what changed)

    def versions(self):
        return {name: c.execute("PRAGMA data_version").fetchone()[0] for name, c in self.conns.items()}

    def counts(self):
        out = {}
        for name, c in self.conns.items():
            tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for t in tables:
                out[f"{name}:{t}"] = c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        return out

    def before(self):
        now = self.versions()
        if now != self.seen:
            self.seen, self.baseline = now, self.counts()

    def after_error(self, rpc, kind, code):
        now = self.versions()
        if now == self.seen:
            return
        counts = self.counts()
        diff = {t: counts[t] - self.baseline.get(t, 0) for t in counts if counts[t] != self.baseline.get(t, 0)}
        self.seen, self.baseline = now, counts
        if diff:
            self.found.append((rpc, kind, f"{code.name}: {diff}"))

    def settle(self):
        deadline = time.monotonic() + 5
        last = self.versions()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = self.versions()
            if now == last:
                break
            last = now


def check_the_store_check():
    """The stored-rows check must be able to fail: a row another connection commits between `before()` and
    `after_error()` is found, and a quiet file is not."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        writer = sqlite3.connect(os.path.join(d, "probe.db"))
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE t (x INTEGER)")
        writer.commit()
        store = Store(d)
        store.before()
        store.after_error("probe", "quiet", grpc.StatusCode.INVALID_ARGUMENT)
        assert not store.found, "a quiet file was reported"
        store.before()
        writer.execute("INSERT INTO t VALUES (1)")
        writer.commit()
        store.after_error("probe", "write", grpc.StatusCode.INVALID_ARGUMENT)
        assert store.found and "probe.db:t" in store.found[0][2], "a stored row was not found"
        writer.close()


# ---------------------------------------------------------------------------------------------------- fuzz

def rss_sampler(pid, stop, peak):
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak[0] = max(peak[0], int(line.split()[1]) // 1024)
        except OSError:
            peak[1] = "process gone"
            return
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ports", required=True, help="intake,matching,referral,waitlist")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--log")
    ap.add_argument("--org", default="0190d5a0-0000-7000-8000-000000000001")
    ap.add_argument("--per-rpc", type=int, default=200, help="structure-aware messages per RPC (and as many "
                    "mutations, a quarter as many random byte strings)")
    ap.add_argument("--streams", type=int, default=10, help="abusive streams per streaming RPC and kind")
    ap.add_argument("--flood", type=int, default=16, help="connections sending 3.9 MB messages at once")
    ap.add_argument("--flood-rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-rss-mb", type=int, default=200)
    args = ap.parse_args()

    token = os.environ["CONTINUUM_TOKEN"]
    auth = [("authorization", "Bearer " + token)]
    rng = random.Random(args.seed)
    gen = Gen(rng, args.org)
    findings = Findings()
    check_the_store_check()
    store = Store(args.data_dir)
    options = [("grpc.max_send_message_length", 16 << 20), ("grpc.max_receive_message_length", 64 << 20),
               ("grpc.max_metadata_size", 4 << 20), ("grpc.absolute_max_metadata_size", 4 << 20)]
    ports = args.ports.split(",")
    stop, peak = threading.Event(), [0, None]
    threading.Thread(target=rss_sampler, args=(args.pid, stop, peak), daemon=True).start()
    started = time.monotonic()

    def checked_unary(channel, rpc, kind, payload, mutating):
        if mutating:
            store.before()
        call = channel.unary_unary(rpc)
        try:
            _, c = call.with_call(payload, metadata=auth, timeout=DEADLINE_S)
            findings.answer(rpc, kind, grpc.StatusCode.OK,
                            metadata_size(c.initial_metadata(), c.trailing_metadata()), "")
            if mutating:
                store.settle()
            return True
        except grpc.RpcError as e:
            findings.answer(rpc, kind, e.code(),
                            metadata_size(e.initial_metadata(), e.trailing_metadata()), e.details() or "")
            if mutating:
                store.after_error(rpc, kind, e.code())
            return False

    channels = []
    for port in ports:
        channel = grpc.insecure_channel(f"{args.host}:{port}", options=options)
        channels.append(channel)
        for service in list_services(channel):
            if not service.startswith("continuum."):
                continue
            pool = pool_for(channel, service)
            sd = pool.FindServiceByName(service)
            for m in sd.methods:
                rpc = f"/{service}/{m.name}"
                mutating = m.name.startswith(MUTATING)
                if m.client_streaming:
                    fuzz_client_stream(channel, rpc, m, gen, rng, auth, findings, store, args.streams)
                    continue
                if m.server_streaming:
                    fuzz_server_stream(channel, rpc, m, gen, rng, auth, findings, args.streams * 3)
                    continue
                accepted = []
                for _ in range(args.per_rpc):
                    payload = gen.message(m.input_type)
                    if checked_unary(channel, rpc, "structured", payload, mutating):
                        accepted.append(payload)
                seeds = accepted or [gen.message(m.input_type) for _ in range(10)]
                for _ in range(args.per_rpc):
                    checked_unary(channel, rpc, "mutated", gen.mutate(rng.choice(seeds)), mutating)
                for _ in range(max(1, args.per_rpc // 4)):
                    checked_unary(channel, rpc, "random bytes", rng.randbytes(rng.randint(0, 512)), mutating)
                checked_unary(channel, rpc, "4.5 MB", b"\x0a" + encode_varint(4_500_000) + b"a" * 4_500_000,
                              mutating)
                checked_unary(channel, rpc, "5,000-deep", deep_nesting(5000), mutating)
                checked_unary(channel, rpc, "empty message", b"", mutating)
                print(f"{rpc}: {len(accepted)} of {args.per_rpc} structured messages accepted", flush=True)

    flood(args, ports, auth, findings)
    stop.set()
    elapsed = time.monotonic() - started
    for channel in channels:
        channel.close()

    # The stack must still be healthy and answering.
    for port in ports:
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        with grpc.insecure_channel(f"{args.host}:{port}") as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            if status.status != health_pb2.HealthCheckResponse.SERVING:
                findings.finding(f"port {port}", "health", "not SERVING after the fuzz")

    echoes = panics = 0
    if args.log:
        with open(args.log, errors="replace") as f:
            for line in f:
                echoes += line.count(MARKER)
                panics += "panicked" in line

    hwm = None
    try:
        with open(f"/proc/{args.pid}/status") as f:
            hwm = next((int(line.split()[1]) // 1024 for line in f if line.startswith("VmHWM:")), None)
    except OSError:
        pass

    print()
    print(f"{findings.calls} unary answers and {findings.streams} streams in {elapsed:.0f} s")
    print("answers by code: " + ", ".join(f"{k} {v}" for k, v in sorted(findings.codes.items())))
    print(f"largest metadata of an answer: {findings.max_metadata} bytes")
    print(f"RSS sampled every 0.1 s: max {peak[0]} MB (process high-water mark since start: {hwm} MB)")
    print(f"input echoed in the log: {echoes} lines; panics in the log: {panics}" if args.log
          else "log not checked")
    failed = False
    limited = findings.rate_limited
    if limited > findings.calls // 100:
        failed = True
        print(f"\nFAILED: {limited} answers were the rate limiter's, so the fuzz did not reach the decoders and "
              "validators: start the stack with CONTINUUM_RATE_LIMIT_PER_MINUTE raised")
    if findings.bad:
        failed = True
        print(f"\nFAILED: {len(findings.bad)} bad answers; the first 30:")
        for rpc, kind, what in findings.bad[:30]:
            print(f"  {rpc} [{kind}]: {what}")
    if store.found:
        failed = True
        print(f"\nFAILED: {len(store.found)} calls answered with an error changed the row counts:")
        for rpc, kind, what in store.found[:30]:
            print(f"  {rpc} [{kind}]: {what}")
    if peak[1]:
        failed = True
        print("\nFAILED: the process went away")
    if peak[0] >= args.max_rss_mb:
        failed = True
        print(f"\nFAILED: RSS reached {peak[0]} MB (limit {args.max_rss_mb} MB)")
    if panics:
        failed = True
        print(f"\nFAILED: {panics} panics in the log")
    if echoes:
        failed = True
        print(f"\nFAILED: the log echoes input ({echoes} lines carry the marker {MARKER})")
    print("\nblack-box fuzz: " + ("FAILED" if failed else "every check held"))
    return 1 if failed else 0


def flood(args, ports, auth, findings):
    """Memory under hostile load: `--flood` threads at once, each sending messages just under the 4 MiB limit
    (an unknown field of 3.9 MB, then a list of 10,000 bad items) to every service, on one connection each."""
    if args.flood <= 0:
        return
    big = b"\xfa\x3e" + encode_varint(3_900_000) + b"z" * 3_900_000   # field 1007, length-delimited
    many = b"".join(b"\x0a" + encode_varint(300) + bytes([0x08]) + b"\xff" * 9 + b"\x01" + b"y" * 289
                    for _ in range(10_000))[: 3_900_000]
    targets = ["/continuum.intake.v1.IntakeService/SubmitIntake", "/continuum.matching.v1.MatchingService/AssignBatch",
               "/continuum.referral.v1.ReferralService/CreateReferral", "/continuum.waitlist.v1.WaitlistService/Enqueue"]

    def worker(n):
        port = ports[n % len(ports)]
        rpc = targets[n % len(targets)]
        with grpc.insecure_channel(f"{args.host}:{port}", options=[("grpc.max_send_message_length", 16 << 20),
                                   ("grpc.max_metadata_size", 4 << 20)]) as ch:
            call = ch.unary_unary(rpc)
            for i in range(args.flood_rounds):
                try:
                    _, c = call.with_call(big if i % 2 == 0 else many, metadata=auth, timeout=DEADLINE_S)
                    findings.answer(rpc, "flood", grpc.StatusCode.OK, metadata_size(c.trailing_metadata()), "")
                except grpc.RpcError as e:
                    findings.answer(rpc, "flood", e.code(), metadata_size(e.trailing_metadata()), e.details() or "")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.flood)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"flood: {args.flood} connections x {args.flood_rounds} messages of 3.9 MB", flush=True)


def fuzz_client_stream(channel, rpc, m, gen, rng, auth, findings, store, count):
    """ImportProviders: streams that end in garbage or are cancelled by us must store nothing."""
    call = channel.stream_unary(rpc)
    for i in range(count * 3):
        kind = ("garbage mid-stream", "cancelled", "structured")[i % 3]
        items = [gen.message(m.input_type) for _ in range(rng.randint(1, 6))]
        if kind == "garbage mid-stream":
            items.insert(rng.randint(0, len(items)), rng.choice([b"\xff\xff\xff", b"\x0a\x05ab",
                                                                  gen.mutate(items[0])]))
        store.before()
        findings.streams += 1
        if kind == "cancelled":
            def slow(items=items):
                yield from items
                time.sleep(0.5)   # every item is sent, the stream is not finished when we cancel
                yield items[0]
            fut = call.future(slow(), metadata=auth, timeout=DEADLINE_S)
            time.sleep(0.2)
            fut.cancel()
            try:
                fut.result(timeout=DEADLINE_S)
                code = grpc.StatusCode.OK   # it finished before the cancel
            except grpc.FutureCancelledError:
                code = grpc.StatusCode.CANCELLED
            except grpc.RpcError as e:
                code = e.code()
                if code != grpc.StatusCode.CANCELLED:
                    findings.answer(rpc, kind, code, metadata_size(e.trailing_metadata()), e.details() or "")
            time.sleep(0.3)   # let the server see the cancel and finish the handler
        else:
            try:
                _, c = call.with_call(iter(items), metadata=auth, timeout=DEADLINE_S)
                findings.answer(rpc, kind, grpc.StatusCode.OK, metadata_size(c.trailing_metadata()), "")
                code = grpc.StatusCode.OK
            except grpc.RpcError as e:
                code = e.code()
                findings.answer(rpc, kind, code, metadata_size(e.trailing_metadata()), e.details() or "")
        if code == grpc.StatusCode.OK:
            store.settle()
        else:
            store.after_error(rpc, kind, code)


def fuzz_server_stream(channel, rpc, m, gen, rng, auth, findings, count):
    """WatchReferrals: odd requests, and streams we cancel after a moment; each must answer or run, not fail."""
    call = channel.unary_stream(rpc)
    for i in range(count):
        payload = gen.message(m.input_type) if i % 2 == 0 else gen.mutate(gen.message(m.input_type))
        findings.streams += 1
        stream = call(payload, metadata=auth, timeout=DEADLINE_S)
        timer = threading.Timer(0.3, stream.cancel)
        timer.start()
        try:
            for _ in stream:
                pass
        except grpc.RpcError as e:
            code = e.code()
            if code != grpc.StatusCode.CANCELLED:
                findings.answer(rpc, "stream", code, metadata_size(e.trailing_metadata()), e.details() or "")
        finally:
            timer.cancel()


if __name__ == "__main__":
    sys.exit(main())
