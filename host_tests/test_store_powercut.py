"""Power cuts and bit flips against wmmp.board.store.FlashStorage (issue 4 "Persistent
store": "cut power at every single write, flush and rename step of a key change
and a parameter change, and random bit flips: after every cut the store loads
either the old or the new state.  Count and report the cases.")

SimFS is an in-memory flash filesystem that numbers every mutating step (open
for writing, each write call, flush, close, rename, remove, mkdir) and loses
power at a chosen step.  What survives the cut is chosen pessimistically, beyond
what littlefs allows:
  - "wb" truncates on flash at once; written data is durable only after flush or
    close;
  - at the cut, unflushed data of every open file is lost, kept whole, kept up
    to half, kept but for its last byte, or half kept and the rest erased (0xFF);
    the write call being cut counts as unflushed data;
  - rename is atomic (littlefs) or, in the "fat" model, refuses an existing
    target and, when cut, may leave the target removed with the source still
    there, or both names holding the data (a half-done rename).
After each cut a fresh FlashStorage over the surviving files must load exactly
the complete old state or the complete new state and report no memory error (a
power cut is not flash corruption); the change retried afterwards must succeed,
and is itself cut at every step (a second cut during recovery).

Counts are printed and written to build/store-powercut.json for the closing note.
"""
import json
import os
import random
import struct

from wmmp.board import store as S
from wmmp.terminal import params as PM

DIR = "/flash/state"
V = struct.pack(">I", 1763700000 + 86400 * 365)
OLD_KEYS = {0xE025: b"Up123456", 0xE027: V, 0xE028: b"Dn654321", 0xE02A: V, 0xE036: b"BaseKey3DES12345",
            0xE038: V, 0xE039: b"\x01", "serial": b"M2MMAKER0000A1B2", "registered": b"\x01",
            "imsi": b"460001234567890"}
V2 = struct.pack(">I", 1763700000 + 86400 * 730)
NEW_UP, NEW_DOWN = b"Up777777", b"Dn888888"
SECRETS = (b"Up123456", b"Dn654321", b"BaseKey3DES12345", NEW_UP, NEW_DOWN)

VARIANTS = ("lost", "all", "half", "short1", "erased", "done", "rename-half", "rename-dup")
REPORT = {}


class PowerCut(BaseException):
    """Power is gone (BaseException: no `except Exception` in the code may hide it)."""


class _File:
    def __init__(self, fs, path, mode):
        self.fs = fs
        self.path = path
        self.closed = False
        if mode[0] == "r":
            self.data = fs.disk[path]
            self.pos = 0
            self.writable = False
        else:
            self.writable = True
            self.synced = fs.disk.get(path, b"") if mode[0] == "a" else b""
            self.buf = bytearray(self.synced)

    def read(self, n=-1):
        d = self.data[self.pos:] if n < 0 else self.data[self.pos:self.pos + n]
        self.pos += len(d)
        return d

    def write(self, b):
        self.fs._step("write", self.path, handle=self, data=bytes(b))
        self.buf += b
        self.fs._after()
        return len(b)

    def _sync(self):
        self.synced = bytes(self.buf)
        self.fs.disk[self.path] = self.synced

    def flush(self):
        if self.writable:
            self.fs._step("flush", self.path)
            self._sync()
            self.fs._after()

    def close(self):
        if self.closed:
            return
        if self.writable:
            self.fs._step("close", self.path)
            self._sync()
            self.fs.handles.remove(self)
            self.closed = True
            self.fs._after()
        self.closed = True


class SimFS:
    """The wmmp.board.fsio interface in memory, with a power cut at step `cut` (1-based)."""

    def __init__(self, disk=None, dirs=(), cut=None, variant="lost", model="atomic"):
        self.disk = dict(disk or {})
        self.dirs = set(dirs) | {"/", "/flash"}
        self.cut = cut
        self.variant = variant
        self.model = model
        self.n = 0
        self.dead = False
        self.die_after = False
        self.handles = []
        self.trace = []

    def state(self):
        return tuple(sorted(self.disk.items())), tuple(sorted(self.dirs))

    def _step(self, op, path, handle=None, data=None, dst=None):
        if self.dead or self.die_after:
            self.dead = True
            raise PowerCut()
        self.n += 1
        self.trace.append(op)
        if self.n != self.cut:
            return
        v = self.variant
        if v == "done":                         # the step completes, then power goes
            self.die_after = True
            return
        self.dead = True
        if op == "write":
            handle.buf += data                  # the interrupted write is in flight
        for h in self.handles:                  # unflushed data: what reaches flash
            pend = bytes(h.buf[len(h.synced):])
            if not pend:
                continue
            keep = {"all": pend, "half": pend[:len(pend) // 2], "short1": pend[:-1],
                    "erased": pend[:len(pend) // 2] + b"\xff" * (len(pend) - len(pend) // 2)}.get(v, b"")
            self.disk[h.path] = h.synced + keep
        if op == "rename" and self.model == "fat" and path in self.disk and dst not in self.disk:
            if v == "rename-half":              # old entry gone, new one not yet written
                del self.disk[path]
            elif v == "rename-dup":             # both entries point at the data
                self.disk[dst] = self.disk[path]
        raise PowerCut()

    def _after(self):
        """End of a step run with variant "done": the power goes now."""
        if self.die_after:
            self.die_after = False
            self.dead = True
            raise PowerCut()

    # -- wmmp.board.fsio interface
    def open(self, path, mode):
        if mode[0] == "r":
            if path not in self.disk:
                raise OSError(2, "no such file")
            if self.dead:
                raise PowerCut()
            return _File(self, path, mode)
        if path.rsplit("/", 1)[0] not in self.dirs:
            raise OSError(2, "no such directory")
        self._step("open", path)
        if mode[0] == "w":
            self.disk[path] = b""               # truncation is on flash at once
        f = _File(self, path, mode)
        self.handles.append(f)
        self._after()
        return f

    def rename(self, src, dst):
        self._step("rename", src, dst=dst)
        if src not in self.disk:
            raise OSError(2, "no such file")
        if self.model == "fat" and dst in self.disk:
            raise OSError(17, "exists")
        self.disk[dst] = self.disk.pop(src)
        self._after()

    def remove(self, path):
        self._step("remove", path)
        if path not in self.disk:
            raise OSError(2, "no such file")
        del self.disk[path]
        self._after()

    def listdir(self, path):
        return [p.rsplit("/", 1)[1] for p in self.disk if p.rsplit("/", 1)[0] == path]

    def exists(self, path):
        return path in self.disk or path in self.dirs

    def mkdir(self, path):
        if path in self.dirs:
            raise OSError(17, "exists")
        self._step("mkdir", path)
        self.dirs.add(path)
        self._after()


def _fs(state, **kw):
    disk, dirs = state
    return SimFS(dict(disk), dirs, **kw)


def _expected(*updates):
    d = dict(PM.DEFAULTS)
    for u in updates:
        d.update(u)
    return d


# -- the changes under test (what the engine does: Params.set... then commit) --
KEY_CHANGE = {0xE025: NEW_UP, 0xE027: V2, 0xE028: NEW_DOWN, 0xE02A: V2}
PARAM_CHANGE = {0x0011: struct.pack(">I", 60), 0x0108: b"\x05", 0x2003: struct.pack(">I", 1800)}


def key_change(fs):
    """New E025/E028 passwords with validity (4.4.3.1.3), then the audit entry."""
    st = S.FlashStorage(fs, DIR)
    p = PM.Params(st)
    for t, v in KEY_CHANGE.items():
        p.set(t, v)
    p.commit()
    st.audit("secrets_changed", sorted(KEY_CHANGE.items()))


def param_change(fs):
    """CONFIG_SET of heartbeat, retransmissions and statistics period (4.3.9)."""
    p = PM.Params(S.FlashStorage(fs, DIR))
    for t, v in PARAM_CHANGE.items():
        p.set(t, v)
    p.commit()


def provisioning(fs):
    """First keys after registration into an empty store (4.4.3.1.1 e)."""
    st = S.FlashStorage(fs, DIR)
    p = PM.Params(st)
    for k, v in OLD_KEYS.items():
        p.set(k, v)
    p.commit()
    st.audit("registered", "keys received")


def provisioned_state(model):
    """Flash after provisioning and one later save: both slots hold a generation."""
    fs = SimFS(model=model)
    provisioning(fs)
    p = PM.Params(S.FlashStorage(fs, DIR))
    p.count(0x2008, 7)
    p.commit()
    return fs.state(), _expected(OLD_KEYS, {0x2008: struct.pack(">I", 7)})


def _check(state, allowed, counts, model):
    """Load the surviving files: exactly one of the allowed states, no memory error,
    a readable audit log without secrets.  Returns which state was found."""
    fs = _fs(state, model=model)
    st = S.FlashStorage(fs, DIR)
    got = st.load()
    names = [n for n, v in allowed if v == got]
    assert names, "loaded neither old nor new state: %r" % (sorted(got) if got else got,)
    assert not st.memory_error and st.last_load in (S.OK, S.EMPTY), (st.last_load, st.discarded)
    st.audit_entries()
    for path, content in state[0]:
        if "/audit." in path:
            for s in SECRETS:
                assert s not in content
    counts[names[0]] = counts.get(names[0], 0) + 1
    return names[0]


def _cut_every_step(state, change, allowed, model, min_steps=5):
    """Run `change` on `state` with power cut at every step and every variant;
    returns (steps, distinct surviving states, counts by outcome)."""
    fs = _fs(state, model=model)
    change(fs)
    steps = fs.n
    assert steps >= min_steps, fs.trace
    survivors = {}
    for k in range(1, steps + 1):
        for v in VARIANTS:
            fs = _fs(state, cut=k, variant=v, model=model)
            try:
                change(fs)
                raise AssertionError("no cut at step %d" % k)
            except PowerCut:
                pass
            survivors.setdefault(fs.state(), (k, fs.trace[-1], v))
    counts = {}
    for s in survivors:
        _check(s, allowed, counts, model)
    return steps, survivors, counts


def _scenario(name, change, model, updates_new, first=False):
    if first:
        state, old = SimFS(model=model).state(), None
        new = _expected(OLD_KEYS)
    else:
        state, old = provisioned_state(model)
        new = dict(old)
        new.update(updates_new)
    allowed = [("old", old), ("new", new)]
    steps, survivors, counts = _cut_every_step(state, change, allowed, model)
    # recovery: from every surviving state, the change done again succeeds ...
    second = {}
    retried = 0
    for s in survivors:
        fs = _fs(s, model=model)
        change(fs)
        retried += 1
        _check(fs.state(), [("new", new)], {}, model)
        # ... and a second power cut at every step of that retry still leaves old or new
        _, _, c2 = _cut_every_step(s, change, allowed, model, min_steps=0)
        for o, n in c2.items():
            second[o] = second.get(o, 0) + n
    assert counts.get("old", 0) > 0 and counts.get("new", 0) > 0, counts
    assert second.get("old", 0) > 0 and second.get("new", 0) > 0, second
    REPORT["%s/%s" % (name, model)] = {
        "steps": steps, "cut_runs": steps * len(VARIANTS), "distinct_cut_states": len(survivors),
        "loaded_old": counts.get("old", 0), "loaded_new": counts.get("new", 0),
        "recoveries": retried, "second_cut_states": sum(second.values()),
        "second_loaded_old": second.get("old", 0), "second_loaded_new": second.get("new", 0)}
    print("power cut %-22s steps=%d cut states=%d old=%d new=%d | second cut states=%d old=%d new=%d" % (
        name + "/" + model, steps, len(survivors), counts.get("old", 0), counts.get("new", 0),
        sum(second.values()), second.get("old", 0), second.get("new", 0)))
    _write_report()


def _write_report():
    out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "store-powercut.json")
    data = {}
    if os.path.exists(path):
        with open(path) as f:
            try:
                data = json.load(f)
            except ValueError:
                data = {}
    data.update(REPORT)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)


def test_power_cut_key_change_littlefs():
    _scenario("key-change", key_change, "atomic", KEY_CHANGE)


def test_power_cut_key_change_fat_rename():
    _scenario("key-change", key_change, "fat", KEY_CHANGE)


def test_power_cut_param_change_littlefs():
    _scenario("param-change", param_change, "atomic", PARAM_CHANGE)


def test_power_cut_param_change_fat_rename():
    _scenario("param-change", param_change, "fat", PARAM_CHANGE)


def test_power_cut_first_provisioning():
    # an empty store: a cut leaves nothing (None -> defaults) or the whole first record
    for model in ("atomic", "fat"):
        _scenario("provisioning", provisioning, model, {}, first=True)


def test_power_cut_model_sees_every_step_kind():
    """The simulator really cuts at write, flush, close and rename (and remove in
    the FAT model), so the counts above cover them."""
    state, _ = provisioned_state("fat")
    fs = _fs(state, model="fat")
    key_change(fs)
    for op in ("open", "write", "flush", "close", "rename", "remove"):
        assert op in fs.trace, fs.trace


def _damage(rng, content, kind):
    b = bytearray(content)
    if kind == "bit":
        i = rng.randrange(len(b) * 8)
        b[i // 8] ^= 1 << (i % 8)
    elif kind == "bits":
        for _ in range(rng.randint(2, 16)):
            i = rng.randrange(len(b) * 8)
            b[i // 8] ^= 1 << (i % 8)
    elif kind == "truncate":
        del b[rng.randrange(len(b)):]
    elif kind == "erase":                       # a flash region reads back erased
        i = rng.randrange(len(b))
        n = rng.randint(1, 64)
        b[i:i + n] = b"\xff" * len(b[i:i + n])
    else:                                       # random garbage burst
        i = rng.randrange(len(b))
        n = rng.randint(1, 32)
        b[i:i + n] = bytes(rng.randrange(256) for _ in range(len(b[i:i + n])))
    return bytes(b)


def test_random_bit_flips_never_load_garbage():
    """Hundreds of random flips, truncations and erased/garbage bursts in the stored
    files.  Expected from the layout alone: the newest slot damaged -> the previous
    generation with memory_error; the older slot damaged -> the newest with
    memory_error; both -> None ("corrupt"); only the audit log -> newest, no error."""
    base, old = provisioned_state("atomic")
    fs = _fs(base)
    key_change(fs)
    state = fs.state()
    new = dict(old)
    new.update(KEY_CHANGE)
    files = dict(state[0])
    newest = DIR + "/store.a"          # provisioning wrote a (gen 1), the counter b (2), the key change a (3)
    older = DIR + "/store.b"
    assert S.decode_record(files[newest])[0] == 3 and S.decode_record(files[older])[0] == 2
    rng = random.Random(4)
    counts = {}
    kinds = ("bit", "bit", "bit", "bits", "truncate", "erase", "garbage")
    for trial in range(600):
        kind = kinds[trial % len(kinds)]
        targets = [rng.choice(sorted(files))]
        if trial % 10 == 9:
            targets = [newest, older]
        disk = dict(files)
        for t in targets:
            disk[t] = _damage(rng, files[t], kind)
        hit_new = disk[newest] != files[newest]
        hit_old = disk[older] != files[older]
        st = S.FlashStorage(SimFS(disk, state[1]), DIR)
        got = st.load()
        st.audit_entries()
        if hit_new and hit_old:
            assert got is None and st.last_load == S.CORRUPT and st.memory_error
            outcome = "both slots bad: nothing loaded, memory_error"
        elif hit_new:
            assert got == old and st.last_load == S.FALLBACK and st.memory_error
            outcome = "newest bad: previous generation, memory_error"
        elif hit_old:
            assert got == new and st.last_load == S.FALLBACK and st.memory_error
            outcome = "older bad: newest, memory_error"
        else:
            assert got == new and st.last_load == S.OK and not st.memory_error
            outcome = "slots intact: newest"
        counts[outcome] = counts.get(outcome, 0) + 1
        if st.memory_error and got is not None:
            st.repair()                          # the good state rewritten: clean again
            r = S.FlashStorage(SimFS(st.fs.disk, state[1]), DIR)
            assert r.load() == got and r.last_load == S.OK and not r.memory_error
    assert len(counts) == 4 and min(counts.values()) > 0, counts
    REPORT["bit-flips"] = dict(counts, trials=600)
    for k in sorted(counts):
        print("damage %-48s %d" % (k, counts[k]))
    _write_report()
