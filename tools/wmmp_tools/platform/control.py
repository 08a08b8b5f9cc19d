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

import logging

from wmmp_tools import serving
from wmmp_tools.serving import ControlSocket
from wmmp_tools.platform.operator import Operator
from wmmp_tools.platform.model import PlatformError
from wmmp_tools.platform.values import InputError

log = logging.getLogger("wmmp.platform.control")


class ControlServer(ControlSocket):
    input_errors = InputError
    failed_errors = PlatformError
    log = log

    def __init__(self, pf, host="127.0.0.1", port=7310):
        super().__init__(host, port)
        self.pf = pf
        self.operator = Operator(pf)


def call(address, req, timeout=60.0):
    """Client side (blocking): one request to the control socket at (host,
    port); the reply dict (wmmp_tools.serving.call)."""
    return serving.call(address, req, timeout, "a wmmp-platform")
