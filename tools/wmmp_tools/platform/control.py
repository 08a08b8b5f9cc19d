"""Control socket of a running platform: line-delimited JSON over TCP (default
127.0.0.1:7310, local use only: there is no authentication, so `serve` binds it
to a loopback address only).

Each request is one JSON object on one line (UTF-8, at most 64 KiB); the platform
answers each with one JSON object on one line, in order:

    -> {"op": "list"}
    <- {"ok": true, "terminals": [...], "unregistered_subscriptions": [...]}
    -> {"op": "get", "serial": "M2MMAKER00000001", "tags": ["HEARTBEAT_PERIOD"], "timeout": 30}
    <- {"ok": true, "command": "CONFIG_GET_ACK", "result": 0, "tlvs": [{"tag": 17, ...}]}
    <- {"ok": false, "kind": "input" | "failed", "error": "one line"}

Requests ("op" and its fields; "via": "sms" | "packet" and "timeout" seconds apply to
every request sent to a terminal; "encrypt": "full" | "partial" uses the session key;
"show_secrets": true shows passwords, keys and PINs, hidden otherwise):

    provision  imsi, msisdn, [serial, preset_uplink, preset_downlink, preset_key,
               preset_key_alg, preset_validity, force_sms, no_security, replace]
               (without "replace" another subscription is never deleted or
               overwritten: an MSISDN of another IMSI, or the IMSI with other
               values, is refused with "failed")
    flag       serial, flags: {"keep-connected"|"fail-reply"|"session-required"|"security": 0|1}
    list       -
    show       serial, [limit]
    log        [serial], [limit]
    get        serial, tags: [name or number, ...]                   (CONFIG_GET)
    set        serial, tlvs: [[tag, hex], ...], [force], [report_wait] (CONFIG_SET, 0x4010)
    ctrl       serial, code: number or name (restart, report-stats, ...) (REMOTE_CTRL)
    security   serial, operation: 0..7 or name, tlvs: [[tag, hex | "new"], ...]
    logout     serial, reason: number or name
    app_data   [ec]     data sent by terminals to EC codes (TRANSPARENT_DATA 0x4014)
    data_send  serial, data: hex (1..1024 bytes), [ec]   downlink TRANSPARENT_DATA with source
               EC code 0x4015 (default: the terminal's 0x0028); the terminal's ACK
               (0x05 received, 0x06 CRC failed) comes back as "result"
    data_follow [after, ec, serial, wait, limit, all]     uplink data stored after row id
               `after` ({"rows": [...], "last": id}), waiting up to `wait` s (<= 60) for
               the first; without `after`: no rows, and the id to follow from
    data_result serial, result: 0..4, [count]   answer the terminal's next `count` uplink
               TRANSPARENT_DATA (0: all until cleared) with `result` instead of storing
               them (tests of 0x01-0x04); result 0 clears
    upgrade_upload  data: hex, [upload, offset]   a part of a file to publish ({"upload": token,
               "size": n}); without "upload" a new one
    upgrade_publish version, data: hex | upload: token, [name, sha256]   store a software
               file: size, CRC16 (profile), CRC32, SHA-256 ({"file": {...}})
    upgrade_files  -                               the published files
    upgrade_push serial, [version, scheme: "wmmp" | "http", crc: "crc16" | "crc32", force,
               window, corrupt_at: [read point, ...]]   DOWNLOAD_INFO with a new TRANS_ID;
               "result" is the DOWNLOAD_INFO_ACK result, "upgrade" the transaction
    upgrade_status [serial, all]                   transactions with progress and outcome

"kind": "input" means the request itself is wrong (the CLI exits 2); "failed" means
it was understood but could not be carried out (unknown or unreachable terminal,
no answer in time; the CLI exits 1).
"""

import asyncio
import json
import logging
import socket

from wmmp_tools.serving import json_lines
from wmmp_tools.platform.operator import Operator
from wmmp_tools.platform.model import PlatformError
from wmmp_tools.platform.values import InputError

log = logging.getLogger("wmmp.platform.control")

LINE_MAX = 65536             # a request line
REPLY_MAX = 1 << 30          # an answer line (show / log with a large --limit)


class ControlServer:
    def __init__(self, pf, host="127.0.0.1", port=7310):
        self.pf = pf
        self.host = host
        self.port = port
        self.operator = Operator(pf)
        self._server = None
        self._writers = set()

    async def start(self, sock=None):
        if sock is not None:
            self._server = await asyncio.start_server(self._client, sock=sock, limit=LINE_MAX + 2)
        else:
            self._server = await asyncio.start_server(self._client, self.host, self.port, limit=LINE_MAX + 2)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self):
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()
            self._server = None

    async def handle(self, req):
        """The reply dict of one request dict."""
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            return {"ok": False, "kind": "input", "error": "a request is a JSON object with an \"op\""}
        try:
            out = await self.operator.run(req["op"], req)
        except InputError as e:
            return {"ok": False, "kind": "input", "error": str(e)}
        except PlatformError as e:
            return {"ok": False, "kind": "failed", "error": str(e)}
        except Exception as e:   # never let one request kill the socket
            log.exception("control request %s failed", req.get("op"))
            return {"ok": False, "kind": "failed", "error": "internal error: %s" % e}
        out = dict(out)
        out["ok"] = True
        return out

    async def _client(self, reader, writer):
        self._writers.add(writer)
        try:
            await json_lines(reader, writer, self.handle, _line)
        finally:
            self._writers.discard(writer)
            writer.close()


def _line(obj):
    return (json.dumps(obj, default=_default) + "\n").encode("utf-8")


def _default(o):
    if isinstance(o, (bytes, bytearray, memoryview)):
        return bytes(o).hex()
    return str(o)


def call(address, req, timeout=60.0):
    """Client side (blocking): send one request to the control socket at (host, port)
    and return the reply dict; OSError when the platform cannot be reached."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(_line(req))
        f = s.makefile("rb")
        line = f.readline(REPLY_MAX + 1)
    if not line:
        raise ConnectionError("the platform closed the control connection")
    if not line.endswith(b"\n"):
        if len(line) > REPLY_MAX:
            raise ConnectionError("the answer is longer than %d MiB (ask for less: --limit)" % (REPLY_MAX >> 20))
        raise ConnectionError("the platform closed the control connection in the middle of its answer")
    try:
        reply = json.loads(line)
    except ValueError:
        raise ConnectionError("the answer is not the platform's (not JSON): is this a wmmp-platform control port?")
    if not isinstance(reply, dict):
        raise ConnectionError("the answer is not the platform's (not a JSON object)")
    return reply
