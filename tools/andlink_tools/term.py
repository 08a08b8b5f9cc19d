"""`andlink-term`: the And-link LwM2M client (lib/andlink/client, the code that
runs on the board) on CPython over UDP (asyncio), as a host device.

    andlink-term --server coap[s]://HOST:PORT [--bootstrap coap[s]://HOST:PORT]
                 --imei IMEI --state DIR [--lifetime S] [--queue]
                 [--update-dir DIR] [--product-token T] [--device-type T]
                 [--psk-key-file FILE] [--psk-identity ID]

It registers with the server (or bootstraps first, And-link spec 4.1), keeps
the registration alive with Updates, answers the server's reads, writes,
executes and observations from a host device's objects (Device, Connectivity
Monitoring, Firmware Update, Location, Connectivity Statistics, the
parameter container /19/1/0), and prints a transcript line for every
datagram both ways and every client event.  Lines typed on stdin:
`send {"power":18}` (Send to /dp, 4.3.2), `set /3/0/9 55` (a value
changes: observers are notified), `update`, `quit`.

--state DIR keeps the client's record between runs (the bootstrap result,
the firmware update's state, result, URI and ETag) in DIR/andlink.json;
DIR is created mode 0700, the file 0600, and state other users can read
or write is refused.  --queue registers with binding UQ (queue mode).
--update-dir DIR takes firmware updates by Pull (4.4): coap:// package
URIs, Block2, staged in DIR by the WMMP updater's AppStager for board
"host" (an update file of kind mpy-app, wmmp_tools.mkupdate); Execute
/5/0/2 applies it and the client restarts in place as that version;
stopping mid-download and starting again with the same --state and
--update-dir resumes.  Without it a Write of /5/0/1 is refused (4.05).
coaps:// (And-link spec 3.5: DTLS 1.2 with a pre-shared key, port 5684)
needs the key: --psk-key-file FILE (the key in hex, a file only its owner
may read) or the environment variable ANDLINK_PSK_KEY (hex); the identity
is the IMEI unless --psk-identity says otherwise.  The key never appears in
the transcript or the arguments.
Ctrl-C (or SIGTERM) de-registers and exits 0; a second one exits at once.
Bad arguments: one line on stderr, exit 2.
"""

import argparse
import asyncio
import fcntl
import json
import os
import signal
import socket
import stat
import sys
import time

try:
    import andlink                      # noqa: F401
except ImportError:                     # a checkout: lib/ beside tools/
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                    "lib"))

from andlink import coap as C            # noqa: E402
from andlink.client.core import Client   # noqa: E402
from andlink.client import parse_uri     # noqa: E402
from andlink.lwm2m.store import Store    # noqa: E402
from andlink.board.settings import psk_key  # noqa: E402

PROG = "andlink-term"
STATE_FILE = "andlink.json"
UPDATE_BOARD = "host"
UPDATE_CAPACITY = 4 * 1024 * 1024
SOFTWARE = "0.1.0"
RESTART_GRACE = 3.0                 # s: what was queued goes out before a restart
STOP_GRACE = 5.0                    # s: the wait for the De-register's answer at Ctrl-C


class UsageError(Exception):
    """A bad command-line value: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _parser():
    p = _Parser(prog=PROG, allow_abbrev=False, description="The And-link LwM2M client over UDP.")
    p.add_argument("--server", required=True, metavar="coap[s]://HOST:PORT", help="the LwM2M server")
    p.add_argument("--bootstrap", metavar="coap[s]://HOST:PORT", help="the Bootstrap-Server (4.1.1)")
    p.add_argument("--psk-key-file", metavar="FILE", help="coaps: the pre-shared key in hex (a private file)")
    p.add_argument("--psk-identity", metavar="ID", help="coaps: the PSK identity (default: the IMEI, 3.5)")
    p.add_argument("--imei", required=True, help="15 digits: the endpoint name (4.1.2)")
    p.add_argument("--state", required=True, metavar="DIR", help="where the client's record is kept (0700)")
    p.add_argument("--lifetime", default="86400", metavar="S", help="registration lifetime, s (default 86400)")
    p.add_argument("--queue", action="store_true", help="queue mode (binding UQ)")
    p.add_argument("--update-dir", metavar="DIR", help="take firmware updates, staged in DIR (0700)")
    p.add_argument("--product-token", default="host-product-token", help="/3/0/1 (3.5)")
    p.add_argument("--device-type", default="host-device", help="/3/0/17 (3.5)")
    p.add_argument("--ack-timeout", default="5", metavar="S", help="CoAP ACK_TIMEOUT, s (3.4: 5)")
    return p


def _peer(text, option):
    """(family, (ip, port), secure) of a coap[s]://HOST:PORT option, resolved now."""
    try:
        scheme, host, port, segs, qs = parse_uri(text)
    except ValueError as e:
        raise UsageError("%s %r is not coap://HOST:PORT (%s)" % (option, text, e))
    if scheme not in ("coap", "coaps"):
        raise UsageError("%s %r: coap:// or coaps:// only" % (option, text))
    if segs or qs:
        raise UsageError("%s %r: no path or query, only coap://HOST:PORT" % (option, text))
    try:
        info = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as e:
        raise UsageError("%s: cannot resolve %r: %s" % (option, host, getattr(e, "strerror", None) or e))
    fam, _, _, _, addr = info[0]
    return fam, (addr[0], addr[1]), scheme == "coaps"


def check_args(argv):
    """The parsed arguments, checked; UsageError on anything wrong."""
    a = _parser().parse_args(argv)
    a.server_family, a.server_peer, srv_secure = _peer(a.server, "--server")
    a.bs_peer = None
    bs_secure = False
    if a.bootstrap is not None:
        fam, a.bs_peer, bs_secure = _peer(a.bootstrap, "--bootstrap")
        if fam != a.server_family:
            raise UsageError("--bootstrap and --server must be of one address family")
    if not (a.imei.isdigit() and len(a.imei) == 15):
        raise UsageError("--imei %r: 15 digits" % a.imei)
    for name in ("lifetime", "ack_timeout"):
        v = getattr(a, name)
        try:
            v = float(v) if name == "ack_timeout" else int(v)
        except ValueError:
            raise UsageError("--%s %r is not a number" % (name.replace("_", "-"), v))
        setattr(a, name, v)
    if not 10 <= a.lifetime <= 0x7FFFFFFF:
        raise UsageError("--lifetime %d: 10 to 2147483647 seconds" % a.lifetime)
    if not 0.05 <= a.ack_timeout <= 60:
        raise UsageError("--ack-timeout %s: 0.05 to 60 seconds" % a.ack_timeout)
    for opt in ("product_token", "device_type"):
        v = getattr(a, opt)
        if not v or len(v) > 64 or not v.isprintable():
            raise UsageError("--%s: 1 to 64 printable characters" % opt.replace("_", "-"))
    a.server_psk = a.bootstrap_psk = None
    if srv_secure or bs_secure:
        psk = (a.psk_identity or a.imei).encode(), _psk_key(a.psk_key_file)
        a.server_psk = psk if srv_secure else None
        a.bootstrap_psk = psk if bs_secure else None
    elif a.psk_key_file is not None or a.psk_identity is not None:
        raise UsageError("--psk-key-file and --psk-identity are for coaps:// servers only")
    check_dir(a.state, "--state")
    if a.update_dir is not None:
        check_dir(a.update_dir, "--update-dir")
    return a


def _psk_key(path):
    """The pre-shared key (bytes) from --psk-key-file or ANDLINK_PSK_KEY, hex."""
    if path is None:
        text = os.environ.get("ANDLINK_PSK_KEY")
        if not text:
            raise UsageError("coaps:// needs the pre-shared key: --psk-key-file FILE or ANDLINK_PSK_KEY (hex)")
        where = "ANDLINK_PSK_KEY"
    else:
        where = "--psk-key-file " + path
        try:
            st = os.stat(path)
            if st.st_mode & 0o077:
                raise UsageError("%s is open to other users (mode %o): chmod 600 it"
                                 % (where, stat.S_IMODE(st.st_mode)))
            with open(path) as f:
                text = f.read(1024)
        except OSError as e:
            raise UsageError("%s: %s" % (where, e.strerror or e))
    try:
        return psk_key(text, where)     # the board's own check (hex, 1 to 64 bytes)
    except ValueError as e:
        raise UsageError(str(e))


def check_dir(path, option):
    """A directory of this user that others cannot read or write, or nothing
    yet under an existing directory."""
    if not path:
        raise UsageError("%s: the directory name is empty" % option)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise UsageError("%s %s: its directory %s does not exist" % (option, path, parent))
        return
    except OSError as e:
        raise UsageError("%s %s: %s" % (option, path, e.strerror or e))
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError("%s %s is not a directory" % (option, path))
    if st.st_uid != os.getuid():
        raise UsageError("%s %s belongs to another user" % (option, path))
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError("%s %s is open to other users (mode %o): chmod 700 %s"
                         % (option, path, stat.S_IMODE(st.st_mode), path))
    f = os.path.join(path, STATE_FILE)
    if option == "--state" and os.path.lexists(f):
        fst = os.lstat(f)
        if not stat.S_ISREG(fst.st_mode) or fst.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError("--state %s: %s is not a private file (chmod 600 it or move it away)" % (path, f))


def own_dir(path, option):
    """Create the directory (0700) and lock it for this process; the lock's fd."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise UsageError("%s %s: cannot create it: %s" % (option, path, e.strerror or e))
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise UsageError("%s %s is in use by another %s" % (option, path, PROG))
    return fd


class JsonPersist:
    """The client's record as DIR/andlink.json: written whole to a temporary
    file (0600), synced, renamed over the old one."""

    def __init__(self, directory):
        self.path = os.path.join(directory, STATE_FILE)
        self.saves = 0

    def load(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            return None
        if not isinstance(d, dict):
            raise ValueError("%s is not a state file" % self.path)
        return d

    def save(self, d):
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(fd, 0o600)
        with open(fd, "w") as f:
            json.dump(d, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.saves += 1


_DTLS = {20: "change-cipher-spec", 21: "alert", 22: "handshake", 23: "data"}
_METHODS = ("EMPTY", "GET", "POST", "PUT", "DELETE", "FETCH")


def describe(raw):
    """One transcript line's worth of a datagram."""
    if len(raw) >= 13 and raw[1] == 0xFE and raw[0] in _DTLS:
        return "DTLS %s epoch %d %d B" % (_DTLS[raw[0]], raw[4], len(raw))
    try:
        m = C.decode(raw)
    except C.CoapError as e:
        return "undecodable (%s) %d B" % (e, len(raw))
    code = _METHODS[m.code] if m.code < len(_METHODS) else C.code_str(m.code)
    parts = [C.TYPE_NAMES[m.mtype], code, "mid=%d" % m.mid]
    try:
        if m.has(C.URI_PATH) or m.is_request:
            q = m.queries
            parts.append(m.path + ("?" + "&".join(q) if q else ""))
        if m.has(C.LOCATION_PATH):
            parts.append("loc=/" + "/".join(m.strs(C.LOCATION_PATH)))
        if m.has(C.OBSERVE):
            parts.append("obs=%d" % m.observe)
        for opt, name in ((C.BLOCK1, "b1"), (C.BLOCK2, "b2")):
            v = m.uint(opt)
            if v is not None:
                parts.append("%s=%d%s/%d" % (name, v >> 4, "+" if v & 8 else "", 16 << (v & 7)))
    except C.CoapError:
        pass
    if len(m.payload):
        p = bytes(m.payload)
        parts.append(repr(p[:60]) if p.isascii() else "%d B" % len(p))
    return " ".join(parts)


def build_store(term, binding, version):
    """The host device's objects (And-link spec 5.2, 4.1.5)."""
    a = term.cfg
    s = Store()
    s.add(3, 0, {0: "andlink-term", 1: a.product_token, 2: "SN" + a.imei[-8:], 3: "host-fw-1.0", 9: 100,
                 10: 1024, 11: {0: 0}, 16: binding, 17: a.device_type, 18: "host", 19: version, 20: 0, 21: 4096})
    s.bind(3, 4, execute=lambda iid, args: term.later_restart("reboot"))
    s.bind(3, 13, read=lambda iid: int(time.time()))
    s.add(4, 0, {0: 7, 1: {0: 7}, 2: -70, 4: {0: term.local_ip()}, 8: 1})
    if term.stager is None:
        s.add(5, 0, {1: "", 3: 0, 5: 0, 9: 0})
        s.bind(5, 1, write=lambda iid, v: 0x85)         # no --update-dir: no firmware updates
    s.add(6, 0, {0: "0.0", 1: "0.0", 5: int(time.time())})
    s.add(7, 0, {0: 0, 1: 0, 2: 0, 3: 0})
    s.bind(7, 6, execute=lambda iid, args: None)
    s.bind(7, 7, execute=lambda iid, args: None)
    s.add(19, 1)
    s.bind(19, 0, read=lambda iid, p: term.params_doc(p), write=lambda iid, v: term.params_write(v))
    return s


class Config:
    """What a run needs (main() fills it from the arguments; tests directly)."""

    def __init__(self, server, imei, state, bootstrap=None, lifetime=86400, queue=False, update_dir=None,
                 product_token="host-product-token", device_type="host-device", params=None,
                 family=socket.AF_INET, server_psk=None, bootstrap_psk=None):
        self.server, self.imei, self.state, self.bootstrap = server, imei, state, bootstrap
        self.lifetime, self.queue, self.update_dir = lifetime, queue, update_dir
        self.product_token, self.device_type = product_token, device_type
        self.params = params or C.ANDLINK
        self.family = family
        self.server_psk, self.bootstrap_psk = server_psk, bootstrap_psk


class Term(asyncio.DatagramProtocol):
    """The client over one UDP socket: datagrams in, ticks at its deadline(),
    datagrams out.  restart() is the board's restart in place (a new Client
    over the same record and update directory)."""

    def __init__(self, cfg, out=None):
        self.cfg = cfg
        self.out = out or (lambda line: print(line, flush=True))
        self.persist = JsonPersist(cfg.state)
        self.params = {"power": 0}
        self.client = self.stager = self.tr = None
        self.loop = None
        self._timer = None
        self.restarting = None
        self.ended = asyncio.Event()
        self.count_in = self.count_out = 0
        self.drop = None                # tests: drop(raw, peer, "in"|"out") -> True loses a datagram

    # -- socket -------------------------------------------------------------------------
    async def open(self, port=0):
        self.loop = asyncio.get_running_loop()
        host = "::" if self.cfg.family == socket.AF_INET6 else "0.0.0.0"
        target = self.cfg.server or self.cfg.bootstrap
        if target[0] in ("127.0.0.1", "::1"):
            host = target[0]                # loopback only: a local test or demo
        await self.loop.create_datagram_endpoint(lambda: self, local_addr=(host, port), family=self.cfg.family)
        self.boot()
        return self

    def connection_made(self, tr):
        self.tr = tr

    def local_ip(self):
        try:
            return self.tr.get_extra_info("sockname")[0]
        except Exception:
            return "0.0.0.0"

    @property
    def port(self):
        return self.tr.get_extra_info("sockname")[1]

    def now(self):
        return self.loop.time()

    def error_received(self, exc):
        self.out("   log    socket: %s" % (exc,))

    def datagram_received(self, data, addr):
        peer = (addr[0], addr[1])
        if self.drop is not None and self.drop(data, peer, "in"):
            return
        self.count_in += 1
        self.out("<- %s:%d %s" % (peer[0], peer[1], describe(data)))
        self.client.receive(data, self.now(), peer)
        self.flush()

    # -- the client ---------------------------------------------------------------------
    def boot(self):
        """Start (or restart) the client: a new Client over the record."""
        cfg = self.cfg
        if cfg.update_dir is not None:
            from wmmp.board import ota
            from wmmp.board.fsio import OsFS
            self.stager = ota.AppStager(OsFS(), os.path.abspath(cfg.update_dir), UPDATE_BOARD,
                                        capacity=UPDATE_CAPACITY, log=lambda t: self.out("   log    " + t))
        version = (self.stager.version() if self.stager is not None else None) or SOFTWARE
        binding = "UQ" if cfg.queue else "U"
        store = build_store(self, binding, version)
        self.client = Client(store, cfg.imei, server=cfg.server, bootstrap=cfg.bootstrap, lifetime=cfg.lifetime,
                             binding=binding, persist=self.persist, stager=self.stager, params=cfg.params,
                             resolve=self.resolve, server_psk=cfg.server_psk, bootstrap_psk=cfg.bootstrap_psk)
        self.client.on_plain = self._plain
        self.out("   log    %s %s starting as %s (software %s)" % (PROG, cfg.imei, binding, version))
        self.client.start(self.now())
        self.flush()

    def _plain(self, direction, data, peer):
        """The CoAP inside a DTLS session, on the transcript."""
        self.out("%s %s:%d   coaps: %s" % (direction, peer[0], peer[1], describe(data)))

    def resolve(self, host, port):
        info = socket.getaddrinfo(host, port, self.cfg.family, socket.SOCK_DGRAM)
        return info[0][4][0], info[0][4][1]

    def flush(self):
        c = self.client
        for raw, peer in c.outgoing():
            if self.drop is not None and self.drop(raw, peer, "out"):
                continue
            self.count_out += 1
            self.out("-> %s:%d %s" % (peer[0], peer[1], describe(raw)))
            try:
                self.tr.sendto(raw, peer)
            except OSError as e:
                self.out("   log    send to %s:%d: %s" % (peer[0], peer[1], e))
        for ev in c.events():
            self.out("   ev     " + " ".join(str(x) for x in ev))
            if ev[0] == "restart":
                self.later_restart(ev[1])
        self._arm()

    def _arm(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        d = self.client.deadline()
        if d is not None:
            self._timer = self.loop.call_at(max(d, self.now()), self._tick)

    def _tick(self):
        self._timer = None
        self.client.tick(self.now())
        self.flush()

    def later_restart(self, why):
        """The board restarts once what is queued went out (at most RESTART_GRACE)."""
        if self.restarting is None:
            self.restarting = asyncio.ensure_future(self._restart(why))
        return None

    async def _restart(self, why):
        end = self.now() + RESTART_GRACE
        while not self.client.idle() and self.now() < end:
            await asyncio.sleep(0.05)
        self.out("   log    restart (%s)" % why)
        self.restarting = None
        self.boot()

    # -- the parameter container /19/1/0 (4.2.2) ---------------------------------------
    def params_doc(self, p):
        d = self.params if p is None else {k: v for k, v in self.params.items() if k == p}
        return json.dumps(d, separators=(",", ":"))

    def params_write(self, v):
        try:
            d = json.loads(v)
        except ValueError:
            return 0x80
        self.params.update(d)
        return None

    # -- operator input ------------------------------------------------------------------
    def command(self, line):
        words = line.strip().split(None, 1)
        if not words:
            return
        c, now = self.client, self.now()
        try:
            if words[0] == "send" and len(words) == 2:
                json.loads(words[1])
                if c.send(words[1], now) is None:
                    self.out("   log    not registered: nothing sent")
            elif words[0] == "set" and len(words) == 2:
                path, _, text = words[1].partition(" ")
                try:
                    value = json.loads(text)
                except ValueError:
                    value = text
                c.store.set(path, value)
            elif words[0] == "update":
                c.update(now)
            elif words[0] == "quit":
                self.ended.set()
            else:
                self.out("   log    commands: send JSON | set PATH VALUE | update | quit")
        except Exception as e:
            self.out("   log    %s: %s" % (words[0], e))
        self.flush()

    async def stop(self, deregister=True):
        """De-register (waiting STOP_GRACE at most for the answer), then close."""
        if self.restarting is not None:
            self.restarting.cancel()
            self.restarting = None
        if deregister and self.client is not None and self.client.deregister(self.now()):
            self.flush()
            end = self.now() + STOP_GRACE
            while self.client.reg_state != 0 and self.now() < end:
                await asyncio.sleep(0.02)
        self.close()

    def close(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.tr is not None:
            self.tr.close()


async def run(args):
    cfg = Config(args.server_peer, args.imei, args.state, args.bs_peer, args.lifetime, args.queue, args.update_dir,
                 args.product_token, args.device_type, C.Params(ack_timeout=args.ack_timeout),
                 args.server_family, args.server_psk, args.bootstrap_psk)
    loop = asyncio.get_running_loop()
    term = Term(cfg)
    signals = [0]

    def on_signal():
        signals[0] += 1
        term.ended.set()
        if signals[0] > 1:
            term.close()
            os._exit(0)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await term.open()
    except OSError as e:
        print("%s: error: cannot open a UDP socket: %s" % (PROG, e.strerror or e), file=sys.stderr)
        return 1
    reader = False
    try:
        if not sys.stdin.closed:
            loop.add_reader(sys.stdin.fileno(), _stdin_line, term, loop)
            reader = True
    except (OSError, ValueError, PermissionError):
        pass
    try:
        await term.ended.wait()
        await term.stop(deregister=True)
    finally:
        if reader:
            try:
                loop.remove_reader(sys.stdin.fileno())
            except (OSError, ValueError):
                pass
    return 0


def _stdin_line(term, loop):
    line = sys.stdin.readline()
    if not line:
        loop.remove_reader(sys.stdin.fileno())      # end of input: keep running until a signal
        return
    term.command(line)


def main(argv=None):
    try:
        args = check_args(sys.argv[1:] if argv is None else argv)
        lock = own_dir(args.state, "--state")
        ulock = own_dir(args.update_dir, "--update-dir") if args.update_dir is not None else None
        try:
            JsonPersist(args.state).load()
        except ValueError as e:
            raise UsageError("--state: %s; move it away to start afresh" % e)
    except UsageError as e:
        print("%s: error: %s" % (PROG, " ".join(str(e).split())), file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    finally:
        os.close(lock)
        if ulock is not None:
            os.close(ulock)


if __name__ == "__main__":
    sys.exit(main())
