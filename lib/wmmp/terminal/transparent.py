"""Transparent data (section 4.3.11, appendix G j): TRANSPARENT_DATA to
and from another terminal or an EC, checked by its CRC16, and the platform's
TRANSPARENT_CMD (appendix D 0x000F), both handed to the application as events;
on a board with a data port, TRANSPARENT_DATA from the platform goes to the
serial data bridge instead (t._bridge, wmmp.terminal.bridge).

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

from wmmp.wire import codec, codes as K, commands as C, crc, header as H
from wmmp.terminal.core import S_ONLINE, S_IDLE, S_OFF


# the serial data bridge's turn in t._pending_data (send_data(t, None, ...))
_BRIDGE_TURN = (None, None, None)


def init(t):
    t._pending_data = []            # TRANSPARENT_DATA waiting for a login


def send_data(t, payload, now, dest_serial=None, ec_code=None):
    """TRANSPARENT_DATA to another terminal (0x4012) or an EC (0x4014), G j.
    On a short connection the terminal logs in first when it is idle (4.2.1).
    payload None: the serial data bridge's frames (wmmp.terminal.bridge), sent
    now or, offline, in their turn after the login."""
    t._now = now
    if payload is None and t.state == S_ONLINE:
        t._bridge.tick(now)
        return None
    if t.state != S_ONLINE:
        if payload is None:
            item = _BRIDGE_TURN             # a constant: no tuple per read while offline
            if item not in t._pending_data:
                t._pending_data.append(item)
        else:
            t._pending_data.append((payload, dest_serial, ec_code))
        if t.state == S_IDLE or (t.state == S_OFF and payload is not None):
            t.login(now)
        return None
    if t.service_off():
        t.event("data_refused", "service suspended (0x4001 0x00)")
        return None
    t.business_used(now)
    addr = (0x4012, H.pad_serial(dest_serial)) if dest_serial is not None else (0x4014, ec_code)
    msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc.crc16(payload, t.profile.crc16)},
                        [addr, (0x4007, payload)])
    return t.request(msg, on_ack=_acked)


def _acked(t, ack, now):
    t.event("data_ack", ack.fields["result"])


def on_data(t, msg, bearer, now):
    """G j: check the CRC16 of the user data; 0x05 received, 0x06 CRC failed.
    With a data port the bridge writes it to the port and answers (PROTOCOL.md 11)."""
    if t._bridge is not None:
        t._bridge.receive(msg, bearer, now)
        return
    ud = msg.tlv(0x4007) or b""
    ok = crc.crc16(ud, t.profile.crc16) == msg.fields["crc16"]
    t.respond(msg, codec.Message(C.TRANSPARENT_DATA_ACK,
                                 {"result": K.TD_ACK_TERMINAL_OK if ok else K.TD_ACK_TERMINAL_CRC_ERROR}),
              bearer)
    if ok:
        t.event("data", ud, msg.tlv(0x4013) or msg.tlv(0x4015))


def on_command(t, msg, bearer, now):
    """TRANSPARENT_CMD: acknowledged, then handed to the application."""
    t.respond(msg, codec.Message(C.TRANSPARENT_CMD_ACK, {"result": K.ACK_OK}), bearer)
    t.event("command", msg.tlv(0x4016), msg.tlv(0x4013) or msg.tlv(0x4015))
