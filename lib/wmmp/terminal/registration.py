"""Registration (section 4.3.1, appendix G a) and boot: REGISTER with the
operation the terminal's state calls for, its ACK, the SMS window for the first
keys, retries with back-off (0x0029, 0x002B, PROTOCOL.md 8).

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

import struct

from micropython import const

from wmmp.wire import codec, codes as K, commands as C, digest as D, header as H, profile as P
from wmmp.terminal.core import S_REGISTERING, S_WAIT_KEYS

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_REG_OP_ASSIGN_SERIAL = const(0x00)
_REG_OP_PRESET_SERIAL = const(0x01)
_REG_OP_PRESET_KEYS = const(0x03)
_REG_OP_REPORT_CLEARED = const(0x04)
_REG_ACK_OK_WAIT_SMS_KEYS = const(0x00)
_REG_ACK_USE_SMS = const(0x02)
_REG_ACK_OK_LOGIN = const(0x09)
_REG_ACK_OK_NO_PASSWORD = const(0x13)

# REGISTER_ACK results that need a person (operator or technician), not a retry.
_FATAL = (0x03, 0x05, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12)


def init(t):
    t._reg_attempts = 0
    t._reg_bearer = P.BEARER_PACKET
    t._reg_op = None                # operation of the REGISTER in flight
    t._early_keys = False           # the first keys came by SMS before REGISTER_ACK


def start(t, now):
    """Boot (4.3.1, 4.3.2): register when not registered, report an IMSI change
    (REGISTER 0x02, 4.3.1.2), otherwise log in; first the SIM checks (4.4.1.1)."""
    t._now = now
    t.event("boot", t.serial)
    st = t.params.storage
    if getattr(st, "memory_error", False):
        # the store had to discard a damaged record: alarm 0x0011 memory error
        # (appendix E e), then rewrite clean copies
        t.raise_alarm(K.ALARM_MEMORY_ERROR, now, 0x02)
        if hasattr(st, "repair"):
            st.repair()
        st.memory_error = False
    if t.sim is not None:
        t.sim_boot(now)                 # then boot_on, unless the SIM needs a person
        return
    boot_on(t, now)


def boot_on(t, now):
    if not t.registered:
        register(t, now)
    elif t.params.get("imsi") not in (None, t.cfg.imsi.encode()):
        register(t, now, K.REG_OP_CHANGE_MAPPING)
    else:
        t.login(now)


def register(t, now, op=None):
    t._gave_up = None
    t._early_keys = False
    t.set_state(S_REGISTERING)
    tlvs = []
    if op is None:
        cleared = t.params.get_int("cleared")
        if cleared:
            op = _REG_OP_REPORT_CLEARED
            tlvs.append((0xE020, bytes([cleared])))
        elif t.params.get("preset") == b"\x01" and t.params.get(0xE025) and t.params.get(0xE028):
            op = _REG_OP_PRESET_KEYS
            tlvs += [(tag, t.secret_digest(tag)) for tag in (0xE026, 0xE029, 0xE03A)
                     if t.secret_digest(tag) is not None]
        elif H.serial_is_unassigned(t.serial):
            op = _REG_OP_ASSIGN_SERIAL
        else:
            op = _REG_OP_PRESET_SERIAL
    key = None
    if op == K.REG_OP_CHANGE_MAPPING:
        key = t.old_key(0xE025)
    msg = codec.Message(C.REGISTER, {"operation": op, "imei": D.imei_field(t.cfg.imei),
                                     "imsi": t.cfg.imsi}, tlvs)
    t._reg_op = op
    t.request(msg, t._reg_bearer, _on_ack, _on_fail, retries=0, key=key, sign=False)


def _on_ack(t, msg, now):
    r = msg.fields["result"]
    t.event("register_ack", r)
    if r in (_REG_ACK_OK_WAIT_SMS_KEYS, _REG_ACK_OK_LOGIN, _REG_ACK_OK_NO_PASSWORD,
             K.REG_ACK_MAPPING_CHANGED):
        t._reg_attempts = 0
        if r != K.REG_ACK_MAPPING_CHANGED:
            t.serial = bytes(msg.fields["terminal_id"])
            t.params.set("serial", t.serial)
        t.params.set("imsi", t.cfg.imsi.encode())
        t.params.delete("cleared")
        if r == _REG_ACK_OK_WAIT_SMS_KEYS and t._early_keys:
            t._early_keys = False           # they are here already (PROTOCOL.md 10)
            keys_received(t, now)
            return
        if r == _REG_ACK_OK_WAIT_SMS_KEYS:
            # G a: enter SMS mode and wait 0x0026 s for SECURITY_CONFIG.
            t.set_state(S_WAIT_KEYS)
            t.event("sms_window", True)
            t._timers["sms_wait"] = now + t.params.get_int(0x0026, 120)
            t.params.commit()
            return
        t.params.set("registered", b"\x01")
        t.params.commit()
        t.event("registered", t.serial)
        t.login(now)
    elif r == _REG_ACK_USE_SMS:
        t._reg_bearer = P.BEARER_SMS          # G a 0x02: register again by SMS
        register(t, now)
    elif r in _FATAL:
        t.enter_alarm(now, "register refused 0x%02X" % r, K.ALARM_PLATFORM_CONNECT_FAILED)
    else:
        retry(t, now)


def _on_fail(t, now):
    retry(t, now)


def retry(t, now):
    """Another REGISTER after the back-off 0x002B, unless 0x0029 attempts are spent."""
    t._reg_attempts += 1
    limit = t.params.get_int(0x0029, 0)
    if limit and t._reg_attempts > limit:          # 0x0029 retries, like 0x0027 (PROTOCOL.md 8)
        t.enter_alarm(now, "registration retries exhausted", K.ALARM_PLATFORM_CONNECT_FAILED)
        t._gave_up = "register"
        return
    t.backoff(now, "register", 0x002B, t._reg_attempts)


def keys_received(t, now):
    """The first passwords and keys arrived by SMS inside the window (G a, G m):
    registered; log in with them."""
    t._timers.pop("sms_wait", None)
    t.event("sms_window", False)
    t.params.set("registered", b"\x01")
    t.params.commit()
    t.event("registered", t.serial)
    t.login(now)


# == timers ==================================================================
def on_sms_wait(t, now):
    """G a: no keys by SMS in time: alarm 0x001C (reported after the next login)
    and register again."""
    if t.state != S_WAIT_KEYS:
        return
    t.event("sms_window", False)
    t._after_login.append([(0x300B, b"\x01"), (0x300C, b"\x01"),
                           (0x300D, struct.pack(">H", K.ALARM_SMS_RECEIVE_TIMEOUT))])
    t.event("alarm", K.ALARM_SMS_RECEIVE_TIMEOUT, "no keys by SMS in time")
    retry(t, now)
