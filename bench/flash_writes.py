"""Flash writes per day of a terminal ("writes only when something
changed; report the number of flash writes per day for a terminal with 30 s
heartbeats and hourly statistics").

One simulated day of the real engine (lib/wmmp/terminal/engine.py) logged in to the
scripted platform of host_tests/portable/fakeplatform.py on a fake clock, its
Params on wmmp.board.store.FlashStorage over an in-memory filesystem that counts what
would reach flash: files opened for writing, write calls, bytes, flushes,
renames, removes.  Heartbeat 0x0011 = 30 s, statistics policy 0x2001 = 0x01
every 0x2003 = 3600 s (the defaults).  Variants: session key valid 24 h or 1 h
(each expiry is a LOGOUT 0x06 and a new LOGIN), statistics cleared after each
report (0x2005 = 1).  For comparison it counts how often a persistent value
changed (what a store that committed on every change would write).

    .venv/bin/python bench/flash_writes.py [--json build/flash-writes.json]

Figures, not pass/fail: they go in the closing notes.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools"),
                os.path.join(ROOT, "host_tests", "portable")]

from wmmp.terminal import engine as E, params as PM   # noqa: E402
from wmmp.wire import commands as C, keys
from wmmp.crypto import cipher as CI
from wmmp.board import store as S
import fakeplatform as F  # noqa: E402

DAY = 86400


class CountingFS:
    """wmmp.board.fsio interface in RAM, counting every mutating operation."""

    def __init__(self):
        self.files = {}
        self.dirs = {"/"}
        self.reset()

    def reset(self):
        self.opened_for_write = 0
        self.write_calls = 0
        self.bytes = 0
        self.flushes = 0
        self.renames = 0
        self.removes = 0
        self.by_file = {}

    def open(self, path, mode):
        fs = self
        if mode[0] == "r":
            if path not in self.files:
                raise OSError(2, "no such file")
            data = self.files[path]

            class R:
                pos = 0

                def read(self, n=-1):
                    d = data[self.pos:] if n < 0 else data[self.pos:self.pos + n]
                    self.pos += len(d)
                    return d

                def close(self):
                    pass
            return R()
        self.opened_for_write += 1
        name = path.rsplit("/", 1)[1]
        self.by_file[name] = self.by_file.get(name, 0) + 1
        buf = bytearray(self.files.get(path, b"") if mode[0] == "a" else b"")

        class W:
            def write(self, b):
                fs.write_calls += 1
                fs.bytes += len(b)
                buf.extend(b)
                return len(b)

            def flush(self):
                fs.flushes += 1
                fs.files[path] = bytes(buf)

            def close(self):
                fs.files[path] = bytes(buf)
        return W()

    def rename(self, src, dst):
        self.renames += 1
        self.files[dst] = self.files.pop(src)

    def remove(self, path):
        self.removes += 1
        del self.files[path]

    def listdir(self, path):
        return [p.rsplit("/", 1)[1] for p in self.files if p.rsplit("/", 1)[0] == path]

    def exists(self, path):
        return path in self.files or path in self.dirs

    def mkdir(self, path):
        self.dirs.add(path)

    def figures(self):
        return {"files_written": self.opened_for_write, "write_calls": self.write_calls, "bytes": self.bytes,
                "flushes": self.flushes, "renames": self.renames, "removes": self.removes}


class CountingParams(PM.Params):
    """Params that also counts how often a persistent value actually changed."""

    changes = 0

    def set(self, tag, value):
        if not self.is_volatile(tag) and self._values.get(tag) != bytes(value):
            self.changes += 1
        PM.Params.set(self, tag, value)


def login_ack(pf, req, curtime, valid):
    tl = [(0xE040, keys.wrap(CI.ALG_3DES, F.BASE, F.SESSION, curtime + valid))]
    raw = pf.make(C.LOGIN_ACK, {"result": 0, "curtime": curtime}, tl, seq=req.seq, ts=0)
    pf.ts = curtime
    pf.session = F.SESSION
    return raw


def one_day(session_hours=24, clear_stats=False):
    fs = CountingFS()
    storage = S.FlashStorage(fs, "/state")
    p = CountingParams(storage)
    prov = F.provisioned_params()
    for k, v in prov._values.items():
        p.set(k, v)
    if clear_stats:
        p.set(0x2005, b"\x01")
    p.commit()
    fs.reset()
    w0, b0 = storage.writes, storage.bytes_written
    p.changes = 0

    clk, pf = F.Clock(0), F.Platform()
    pf.serial = prov.get("serial")
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=prov.get("serial")), p)
    sent = {}

    def respond():
        out = t.outgoing()
        while out:
            bearer, raw = out.pop(0)
            cmd = F.command(raw)
            name = C.name(cmd)
            sent[name] = sent.get(name, 0) + 1
            if cmd == C.LOGIN:
                reply = login_ack(pf, pf.read(raw, ts=0), F.CURTIME + clk.t, session_hours * 3600)
            elif cmd == C.HEART_BEAT:
                reply = pf.ack(pf.read(raw), digest=False)
            elif cmd == C.CONFIG_TRAP:
                m = pf.read(raw)
                if m.tlv(0x2004) is not None:
                    sent["statistics reports"] = sent.get("statistics reports", 0) + 1
                reply = pf.ack(m, {"result": 0})
            elif cmd == C.LOGOUT:
                reply = pf.ack(pf.read(raw))
            else:
                continue
            t.receive(reply, bearer, clk.t)
            out += t.outgoing()

    t.start(clk.t)
    respond()
    while True:
        d = t.deadline()
        if d is None or d >= DAY:
            break
        clk.t = max(clk.t, d)
        t.tick(clk.t)
        respond()
    assert t.state == E.S_ONLINE, t.state_name
    out = {"session_hours": session_hours, "clear_stats_after_report": clear_stats,
           "records_written": storage.writes - w0, "record_bytes": storage.bytes_written - b0, "record_size": len(fs.files["/state/" + S.SLOTS[storage._slot]]),
           "saves_skipped_unchanged": storage.skipped, "persistent_value_changes": p.changes,
           "messages": sent, "by_file": dict(fs.by_file)}
    out.update(fs.figures())
    return out


def main(argv):
    rows = [one_day(24), one_day(1), one_day(24, clear_stats=True)]
    print("One day, heartbeat 30 s, statistics every 3600 s, FlashStorage A/B records")
    print("%-26s %8s %8s %8s %8s %9s %10s" % ("case", "records", "files", "renames", "bytes", "rec size",
                                               "changes"))
    for r in rows:
        case = "session %dh%s" % (r["session_hours"], ", clear stats" if r["clear_stats_after_report"] else "")
        print("%-26s %8d %8d %8d %8d %9d %10d" % (case, r["records_written"], r["files_written"], r["renames"],
                                                   r["bytes"], r["record_size"], r["persistent_value_changes"]))
    for r in rows:
        print("  session %dh messages: %s" % (r["session_hours"], ", ".join(
            "%s %d" % kv for kv in sorted(r["messages"].items()))))
    if "--json" in argv:
        path = argv[argv.index("--json") + 1]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(rows, f, indent=1, sort_keys=True)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
