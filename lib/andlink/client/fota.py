"""Firmware update by Pull (And-link spec section 4.4; OMA LwM2M TS 1.0
Appendix E.6, Firmware Update v1.0.2; RFC 7959): a Write of /5/0/1 Package
URI starts a Block2 download of a coap:// package into the updater's stager
(wmmp.board.ota: begin, write, error, finish, abort, apply, boot, confirm,
rollback, version, capacity), Execute /5/0/2 applies it, and after the
restart /5/0/5 says 1 (success) or 8 (failed, rolled back).  A flow of
andlink.client.core, loaded only when the client has a stager.

/5/0/3 State: 0 idle, 1 downloading, 2 downloaded, 3 updating.  /5/0/5
Update Result: 0 initial, 1 success, 2 not enough storage (Size2 or the
package's header over stager.capacity(), or the stager's flash failed), 3
out of RAM, 4 connection lost (no block for BLOCKWISE_STATUS_LIFETIME, 3.4,
or a 5.xx), 5 integrity check failure (stager.finish(): the update file's
SHA-256 and size), 6 unsupported package (its 72-byte header names another
board or kind: known after the first block), 7 invalid URI (unparsable, or
the file server answers 4.xx), 8 update failed, 9 unsupported protocol
(http://, https://, coaps://: this client fetches plain coap:// only, the
channel 4.4.1 names).  State and Result, the URI, the ETag and the transfer
id live in the client's persistent record, so both survive the reboot and
the result stays until the next Write of /5/0/1; the bytes staged and
verified live in the stager's own power-safe record (written with the
data), which gives the resume point: after a reboot, or a new Write of the
same URI after result 4, the download goes on from the block holding it.
A changed ETag (the package changed, RFC 7959 2.4) starts it again from
byte 0, once.

An And-link package is the update file of wmmp.board.otaimage (72-byte
header: board, kind, version, size, SHA-256); the stager checks it.  The
package's version becomes /5/0/7 PkgVersion and its board /5/0/6 PkgName.
After apply() the client asks the board to restart (event ("restart",
"fota", version)); at the next start boot() says "trial" (confirmed, result
1, once the client registered again with the package's version running),
"rolled_back" (result 8) or "ok".  An empty Write of /5/0/1 cancels (state 0,
result 0).  /5/0/26550 (4.4.4, switch to MCU update) marks the upgrade as
the MCU's (SOTA): the stager updates the board's software either way, and the
new version is reported in /3/0/19 after a SOTA, in /3/0/3 otherwise.
"""

from micropython import const

from andlink import coap as C
from andlink.client import parse_uri

IDLE = const(0)
DOWNLOADING = const(1)
DOWNLOADED = const(2)
UPDATING = const(3)

R_INITIAL = const(0)
R_SUCCESS = const(1)
R_NO_STORAGE = const(2)
R_OUT_OF_RAM = const(3)
R_LINK_LOST = const(4)
R_INTEGRITY = const(5)
R_UNSUPPORTED = const(6)
R_INVALID_URI = const(7)
R_FAILED = const(8)
R_PROTOCOL = const(9)

_FW = const(5)
_PROGRESS = const(4096)         # a ("fota_progress", ...) event every so many bytes


class _Stop(C.CoapError):
    """Raised by the sink: the download ends (c._fw_stop says with what)."""


def init(c):
    c._dl = None
    c._fw_n = 0
    c._fw_stop = None
    c._fw_again = False
    c._fw_trial = False
    c._fw_resume = False
    s = c.store
    st = c.state
    if not s.instances(_FW):
        try:
            s.add(_FW, 0)
        except Exception:
            pass
    for rid, v in ((3, st.get("fs", IDLE)), (5, st.get("fr", R_INITIAL)), (1, st.get("fu", "")),
                   (9, 0), (8, {0: 0}), (7, st.get("fv")), (6, st.get("fn"))):
        if v is not None:
            try:
                s.set((_FW, 0, rid), v)
            except Exception:
                pass
    s.bind(_FW, 1, write=lambda iid, v: _on_uri(c, v))
    s.bind(_FW, 0, write=lambda iid, v: 0x85)       # Push: not offered (/5/0/9 = 0, Pull only)
    s.bind(_FW, 2, execute=lambda iid, args: _on_update(c))
    s.bind(_FW, 26550, execute=lambda iid, args: _on_mcu(c))
    try:
        s.get((3, 0, 26261))
    except Exception:
        try:
            s.bind(3, 26261, read=lambda iid: _capacity(c) // 1024)    # 4.4.4: kilobytes
        except Exception:
            pass


def _capacity(c):
    try:
        return int(c.stager.capacity())
    except Exception:
        return 0


def status(c):
    return c.state.get("fs", IDLE), c.state.get("fr", R_INITIAL)


def _on_mcu(c):
    """/5/0/26550 (4.4.4): this upgrade is the MCU's (SOTA): its version is
    reported in /3/0/19, not in /3/0/3 (kept with the download's record)."""
    c.state["mcu"] = 1
    c.save()
    c.event("fota", "mcu")


def _set(c, state, result):
    st = c.state
    st["fs"] = state
    st["fr"] = result
    c.save()
    s = c.store
    s.set((_FW, 0, 3), state)
    s.set((_FW, 0, 5), result)
    c.event("fota_state", state, result)


def _fail(c, result, why=None):
    c.state.pop("mcu", None)
    _set(c, IDLE, result)
    c.event("fota", "failed", result, why)


# == the server's operations =================================================
def _on_uri(c, uri):
    state = c.state.get("fs", IDLE)
    if not uri:
        if state == UPDATING:
            return 0x85                 # 4.05: too late to cancel
        _stop_download(c)
        try:
            c.stager.abort()
        except Exception:
            pass
        _set(c, IDLE, R_INITIAL)
        c.event("fota", "cancelled")
        return None
    if state != IDLE:
        return 0x85                     # 4.05: a download or an update is under way
    c.defer(lambda c, now: _begin(c, uri, now))
    return None


def _on_update(c):
    if c.state.get("fs", IDLE) != DOWNLOADED:
        return 0x85                     # 4.05: nothing downloaded to apply
    _set(c, UPDATING, R_INITIAL)
    c.defer(_apply)
    return None


def _apply(c, now):
    try:
        ver = c.stager.apply()
    except MemoryError:
        ver = None
        why = "out of RAM"
    except Exception as e:
        ver = None
        why = repr(e)
    if ver is None:
        _set(c, DOWNLOADED, R_FAILED)   # TS 1.0 E.6: Updating -> Downloaded, result 8
        c.event("fota", "failed", R_FAILED, why)
        return
    c.event("restart", "fota", ver)


# == the download ============================================================
def _begin(c, uri, now):
    try:
        scheme = parse_uri(uri)[0]
    except ValueError:
        _fail(c, R_INVALID_URI, "not a URI")
        return
    if scheme != "coap":
        _fail(c, R_PROTOCOL if scheme in ("http", "https", "coaps", "coap+tcp", "coaps+tcp") else R_INVALID_URI,
              "scheme " + scheme)
        return
    st = c.state
    resume = st.get("fu") == uri and st.get("fr") == R_LINK_LOST and st.get("ft") is not None
    if not resume:
        _new_transfer(c)
    st["fu"] = uri
    c._fw_again = False
    _set(c, DOWNLOADING, R_INITIAL)
    _download(c, now)


def _new_transfer(c):
    st = c.state
    st["fc"] = st.get("fc", 0) + 1
    st["ft"] = st["fc"]
    st["fe"] = ""


def _download(c, now):
    from andlink.coapblock import Block2Download, szx_size, size_szx
    st = c.state
    try:
        _, host, port, segs, qs = parse_uri(st["fu"])
        peer = c.resolve(host, port)
    except Exception as e:
        _fail(c, R_INVALID_URI, repr(e))
        return
    try:
        # the stager's record matches a resume by transfer id (no CRC: the
        # update file's own SHA-256 is checked by finish())
        n = c.stager.begin(st["ft"], None, "andlink", "-", None)
    except MemoryError:
        _fail(c, R_OUT_OF_RAM)
        return
    except Exception as e:
        _fail(c, R_NO_STORAGE, repr(e))
        return
    c._fw_n = n
    c._fw_stop = None
    m = C.Message(code=C.GET)
    for seg in segs:
        m.add(C.URI_PATH, seg)
    for q in qs:
        m.add(C.URI_QUERY, q)
    etag = None
    if n and st.get("fe"):
        from binascii import unhexlify
        etag = unhexlify(st["fe"])
    bs = szx_size(size_szx(c.p.block_size))
    dl = Block2Download(c.ep, m, lambda off, data: _sink(c, off, data), peer, start=n // bs, etag=etag)
    c._dl = dl
    c.event("fota", "downloading", n)
    c.transfer(dl, _done, now)


def _sink(c, offset, data):
    dl = c._dl
    n = c._fw_n
    end = offset + len(data)
    if end <= n:
        return                          # staged before the interruption
    if offset < n:
        data = memoryview(data)[n - offset:]
    elif offset > n:
        _halt(c, R_FAILED, "block at %d, the stager is at %d" % (offset, n))
    if dl.etag is not None and not c.state.get("fe"):
        _keep_etag(c, dl)
    if (dl.total or 0) > _capacity(c) or end > _capacity(c):     # 4.4.3 (1): no room for it
        _halt(c, R_NO_STORAGE, "package of %d bytes" % (dl.total or end))
    try:
        c.stager.write(n, data)
    except MemoryError:
        _halt(c, R_OUT_OF_RAM)
    except Exception as e:
        _halt(c, R_NO_STORAGE, repr(e))
    c._fw_n = n + len(data)
    err = c.stager.error()
    if err is not None:
        _halt(c, R_UNSUPPORTED, err)
    if (n // _PROGRESS) != (c._fw_n // _PROGRESS) or n == 0:
        c.event("fota_progress", c._fw_n, dl.total)


def _keep_etag(c, dl):
    if dl.etag:
        from binascii import hexlify
        c.state["fe"] = str(hexlify(dl.etag), "ascii")
        c.save()


def _halt(c, result, why=None):
    c._fw_stop = (result, why)
    raise _Stop(why or "stopped")


def _stop_download(c):
    dl = c._dl
    c._dl = None
    if dl is not None:
        c.drop_transfer(dl)


def _done(c, dl, now):
    if dl is not c._dl:
        return
    c._dl = None
    if dl.state == 1:                   # coapblock.DONE
        try:
            ok, why = c.stager.finish()
        except MemoryError:
            ok, why = False, "out of RAM"
        except Exception as e:
            ok, why = False, repr(e)
        if not ok:
            c.stager.abort()
            _fail(c, R_INTEGRITY, why)
            return
        hdr = getattr(c.stager, "header", None)
        st = c.state
        if hdr is not None:
            st["fv"] = hdr.version
            st["fn"] = hdr.board
            for rid, v in ((7, hdr.version), (6, hdr.board)):
                try:
                    c.store.set((_FW, 0, rid), v)
                except Exception:
                    pass
        _set(c, DOWNLOADED, R_INITIAL)
        c.event("fota", "downloaded", st.get("fv"))
        return
    stop, c._fw_stop = c._fw_stop, None
    err = dl.error or ""
    if stop is not None:
        if stop[0] != R_OUT_OF_RAM:
            c.stager.abort()
        _fail(c, stop[0], stop[1])
    elif err.startswith("ETag changed") and not c._fw_again:
        c._fw_again = True              # the package changed under the transfer: from byte 0, once
        c.stager.abort()
        _new_transfer(c)
        c.event("fota", "restarted", err)
        _download(c, now)
    elif err.startswith("response 4."):
        c.stager.abort()
        _fail(c, R_INVALID_URI, err)
    else:
        _fail(c, R_LINK_LOST, err)      # the staged part stays: the same URI again resumes


# == across the restart =======================================================
def boot(c, now):
    """At the client's start: the outcome of an update applied before the
    restart, or a download to resume once registered."""
    st = c.state
    fs = st.get("fs", IDLE)
    if fs == DOWNLOADING:
        c._fw_resume = True
    elif fs == UPDATING:
        try:
            b = c.stager.boot()
        except Exception as e:
            c.event("bad", "stager.boot: %r" % (e,))
            b = "rolled_back"
        if b == "trial":
            c._fw_trial = True          # confirmed once registered (the health check)
        elif b == "rolled_back":
            if hasattr(c.stager, "reported"):
                c.stager.reported()
            _fail(c, R_FAILED, "rolled back")
        elif _running(c) == st.get("fv"):
            _set(c, IDLE, R_SUCCESS)
        else:
            _fail(c, R_FAILED, "not running the package's version")


def _running(c):
    try:
        return c.stager.version()
    except Exception:
        return None


def on_registered(c, now):
    if c._fw_trial:
        c._fw_trial = False
        v = _running(c)
        if v is not None and v == c.state.get("fv"):
            c.stager.confirm()
            # the new version where the platform checks it (4.4.1, 4.4.4): the
            # MCU's Software Version /3/0/19 after a SOTA (/5/0/26550 executed),
            # else the Firmware Version /3/0/3
            mcu = c.state.pop("mcu", 0)
            _set(c, IDLE, R_SUCCESS)
            try:
                c.store.set((3, 0, 19) if mcu else (3, 0, 3), v)
            except Exception:
                pass
            c.event("fota", "updated", v)
        else:
            c.stager.rollback()
            _fail(c, R_FAILED, "version %s, not %s" % (v, c.state.get("fv")))
            c.event("restart", "rollback", v)
    if c._fw_resume and c._dl is None:
        c._fw_resume = False
        if c.state.get("fs") == DOWNLOADING:
            _download(c, now)
