"""Platform side of the terminal-platform flows of sections 4.3 and 4.4 (appendix G
bodies and result codes): what the platform answers to each terminal request, and
the key deliveries that follow registration.

Each handler takes a server.Ctx (terminal row, runtime, decoded request, route) and
answers through ctx.pf.respond(), which keeps the same bearer and seq (4.2).
"""

import asyncio
import json
import logging
import struct
import weakref

from wmmp.wire import catalogue as CAT
from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import crc
from wmmp.wire import digest as D
from wmmp.wire import header as H
from wmmp.wire import keys as KEYS
from wmmp.errors import WmmpError

from wmmp_tools import logfmt
from wmmp_tools.platform import creds
from wmmp_tools.platform import upgrade
from wmmp_tools.platform.model import PlatformError, serial_bytes, serial_key

log = logging.getLogger("wmmp.platform")

# REGISTER_ACK results (appendix G a).
REG_OK_SMS_KEYS = 0x00
REG_MAPPING_CHANGED = 0x01
REG_USE_SMS = 0x02
REG_BAD_IMSI = 0x03
REG_IMSI_CONFLICT = 0x04
REG_BAD_SERIAL = 0x05
REG_SERIAL_CONFLICT = 0x06
REG_IMEI_CONFLICT = 0x07
REG_BAD_VERSION = 0x08
REG_OK_PRESET = 0x09
REG_OK_NO_SECURITY = 0x13

# LOGIN_ACK results (appendix G b).
LOGIN_OK = 0x00
LOGIN_OK_REPORT_CONFIG = 0x01
LOGIN_BAD_MAPPING = 0x02
LOGIN_BAD_SERIAL = 0x03
LOGIN_SERIAL_CONFLICT = 0x04
LOGIN_BAD_VERSION = 0x05
LOGIN_NOT_REGISTERED = 0x06
LOGIN_OK_BAD_KEY = 0x07
LOGIN_OK_STAY = 0x08
LOGIN_MISSING_KEY = 0x09

SECRET_TAGS = (0xE025, 0xE028, 0xE036)
# Which E020 bit stands for which secret (appendix E g).
CLEARED_BITS = ((0x08, "up"), (0x04, "down"), (0x02, "key"))


def _u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def _text(b):
    return bytes(b).rstrip(b"\x00").decode("latin-1")


def online(term):
    return term is not None and term["state"] == "online"


# == sessions ================================================================

def end_session(pf, serial, state, reason=None):
    """The logical connection ends (4.2): CURTIME and session key are forgotten.
    `reason`: the LOGOUT reason (G c) when there is one, for the applications."""
    rt = pf.runtime(serial)
    if rt.logged_in:
        pf.app_event("logout", serial, state=state, reason=reason)
    rt.curtime = None
    rt.session = None
    rt.awaiting_trap = False
    rt.expect_config = False
    pf.db.update_terminal(serial, state=state)


def promote_pending(pf, serial, why):
    """New secrets become the current ones (4.4.3.1.3: after LOGOUT 0x09, or as soon
    as the terminal is seen using them)."""
    pk = pf.db.pending_keys(serial)
    if not pk:
        return False
    fields = {k: v for k, v in pk.items() if k in ("up_pw", "up_valid", "down_pw", "down_valid",
                                                  "base_key", "base_valid", "base_alg", "session_alg")}
    fields["pending_keys"] = None
    pf.db.update_terminal(serial, **fields)
    pf.note(serial, None, "new secrets in use (%s): %s" % (why, ", ".join(sorted(fields))))
    return True


def new_secrets(pf, which, term_alg=None):
    """Fresh secrets: which is a set of "up", "down", "key" (4.4.3)."""
    cfg = pf.config
    now = int(pf.clock())
    out = {}
    if "up" in which:
        out["up_pw"] = creds.password()
        out["up_valid"] = now + cfg.password_lifetime
    if "down" in which:
        out["down_pw"] = creds.password()
        out["down_valid"] = now + cfg.password_lifetime
    if "key" in which:
        alg = cfg.base_alg if term_alg is None else term_alg
        out["base_alg"] = alg
        out["base_key"] = creds.key_for(alg)
        out["base_valid"] = now + cfg.key_lifetime
        out["session_alg"] = cfg.session_alg
    return out


def secret_tlvs(s):
    """SECURITY_CONFIG op 0x00 TLVs for a dict of secrets (appendix B 1.1.1)."""
    tlvs = []
    if s.get("up_pw"):
        tlvs += [(0xE025, s["up_pw"].encode()), (0xE027, _u32(s["up_valid"]))]
    if s.get("down_pw"):
        tlvs += [(0xE028, s["down_pw"].encode()), (0xE02A, _u32(s["down_valid"]))]
    if s.get("base_key"):
        tlvs += [(0xE036, s["base_key"].encode()), (0xE038, _u32(s["base_valid"])),
                 (0xE039, bytes([s["base_alg"]]))]
        if s.get("session_alg") is not None and s["session_alg"] != s["base_alg"]:
            tlvs.append((0xE03E, bytes([s["session_alg"]])))
    return tlvs


def schedule_key_sms(pf, serial, secrets, delay, why):
    """4.4.3.1.2 d / 4.3.1.1.1.1 f: after a delay, SECURITY_CONFIG op 0x00 by SMS in
    clear, without a digest (PROTOCOL.md 3: nothing to key it with yet); retransmitted
    until the SECURITY_CONFIG_ACK comes or the terminal logs in with the keys.  The
    ACK may come after that LOGIN (SMS is slower than UDP): it is still taken."""
    rt = pf.runtime(serial)
    if rt.key_task is not None and not rt.key_task.done():
        rt.key_task.cancel()
    rt.key_generation += 1
    rt.key_what = tuple(k for k in ("up_pw", "down_pw", "base_key") if secrets.get(k))
    tlvs = secret_tlvs(secrets)
    rt.key_task = pf.spawn(_deliver_keys(pf, serial, tlvs, delay, why, rt.key_generation))


async def _deliver_keys(pf, serial, tlvs, delay, why, generation):
    await asyncio.sleep(delay)
    msg = codec.Message(C.SECURITY_CONFIG, {"operation": 0x00}, list(tlvs))

    def answered(ans, late):
        _keys_answered(pf, serial, generation, ans, late)
    try:
        await pf.request(serial, msg, via="sms", sign=False, note=why, on_answer=answered)
    except PlatformError as e:
        pf.note(serial, None, "key SMS not acknowledged: %s" % e, logging.WARNING)


def _keys_answered(pf, serial, generation, ans, late):
    """The SECURITY_CONFIG_ACK to a key SMS, in time or late (after the LOGIN)."""
    r = ans.fields.get("result")
    if generation != pf.runtime(serial).key_generation:
        pf.note(serial, None, "SECURITY_CONFIG_ACK 0x%02X to an earlier key SMS (new secrets were "
                "sent since)" % r, logging.WARNING)
    elif r == 0x00:
        pf.db.update_terminal(serial, keys_acked=1)
        pf.note(serial, None, "SECURITY_CONFIG_ACK 0x00: terminal stored the secrets"
                + (" (its LOGIN had already shown it)" if late else ""))
    else:
        pf.note(serial, None, "SECURITY_CONFIG_ACK 0x%02X to the key SMS (tags %s)" % (
            r, ", ".join("0x%04X" % t for t, _ in ans.tlvs)), logging.WARNING)


# == REGISTER (4.3.1, appendix G a) ============================================

def on_register(ctx):
    pf, msg, route = ctx.pf, ctx.msg, ctx.route
    f = msg.fields
    op = f["operation"]
    reported = H.pad_serial(msg.serial)

    def ack(result, terminal_id=None, key=None, note=""):
        resp = codec.Message(C.REGISTER_ACK, {"result": result,
                                              "terminal_id": terminal_id or reported})
        pf.respond(ctx, resp, sign=key is not None, key=key, serial=reported,
                   note=("result 0x%02X" % result) + ("; " + note if note else ""))
        pf.app_event("register", serial_key(terminal_id or reported), result=result,
                     imei=_text(f["imei"]), imsi=_text(f["imsi"]))

    if not pf.profile.version_compatible(msg.version):
        ack(REG_BAD_VERSION, note="version 0x%04X" % msg.version)
        return
    imsi = _text(f["imsi"])
    imei = _text(f["imei"])
    try:
        D.imsi_field(imsi)
        D.imei_field(imei)
    except WmmpError as e:
        ack(REG_BAD_IMSI, note="bad identity: %s (PROTOCOL.md 2)" % e)
        return
    if op == 0x02:
        _register_change_mapping(ctx, imei, imsi, ack)
        return
    if op not in (0x00, 0x01, 0x03, 0x04):
        pf.note(serial_key(reported), route, "REGISTER operation 0x%02X unknown: dropped" % op)
        return
    sub = pf.db.subscription(imsi)
    if sub is None:
        ack(REG_BAD_IMSI, note="no subscription for IMSI %s" % imsi)
        return
    if route.kind == "sms" and route.addr != sub["msisdn"]:
        ack(REG_BAD_IMSI, note="SMS from %s but IMSI %s belongs to %s" % (route.addr, imsi, sub["msisdn"]))
        return
    if sub["force_sms"] and route.kind != "sms":
        ack(REG_USE_SMS, note="operator requires registration by SMS")
        return
    if op == 0x04:
        _register_reset(ctx, imei, imsi, sub, ack)
        return
    unassigned = H.serial_is_unassigned(reported)
    existing_same = None
    if unassigned:
        if op != 0x00:
            ack(REG_BAD_SERIAL, note="operation 0x%02X needs a preset serial" % op)
            return
        serial = _assign_serial(pf, reported, imei, imsi, sub)
    else:
        serial = serial_key(reported)
    pf.db.retag_message(ctx.log_id, serial)
    ctx.log_as = serial
    if sub["serial"] and sub["serial"] != serial and not unassigned:
        ack(REG_BAD_SERIAL, note="subscription is provisioned for serial %s" % sub["serial"])
        return
    existing = pf.db.terminal(serial)
    if existing is not None:
        if existing["imsi"] == imsi and existing["imei"] == imei:
            existing_same = existing
        elif online(existing):
            ack(REG_SERIAL_CONFLICT, note="serial %s is online with another SIM/device" % serial)
            return
    other = pf.db.terminal_by_imsi(imsi)
    if other is not None and other["serial"] != serial and online(other):
        ack(REG_IMSI_CONFLICT, note="IMSI %s is online as %s" % (imsi, other["serial"]))
        return
    other = pf.db.terminal_by_imei(imei)
    if other is not None and other["serial"] != serial and online(other):
        ack(REG_IMEI_CONFLICT, note="IMEI %s is online as %s" % (imei, other["serial"]))
        return
    security = bool(pf.config.security and not sub["no_security"])
    supports = bool(msg.security & H.SEC_SUPPORTS_ENCRYPTION)
    row = {"serial": serial, "imei": imei, "imsi": imsi, "msisdn": sub["msisdn"],
           "state": "registered", "registered": pf.clock(), "version": msg.version,
           "security": 1 if security else 0, "supports_encryption": 1 if supports else 0,
           "session_required": 1 if pf.config.session_keys_required else 0,
           "last_seen": pf.clock(), "last_bearer": route.kind, "last_address": route.text()}
    if existing is not None:
        for k in ("keep_connected", "fail_reply", "session_required", "software_version"):
            row[k] = existing[k]
        if existing["serial"] in pf.runtimes:
            end_session(pf, serial, "registered")
    tid = H.pad_serial(serial_bytes(serial))
    if not security:
        # 4.3.1.1.2: no security: the platform answers and registration is done.
        pf.db.save_terminal(row)
        ack(REG_OK_NO_SECURITY, tid, note="security off: log in without passwords")
        return
    if op == 0x03:
        result = _check_preset(pf, msg, sub)
        if result != REG_OK_PRESET:
            ack(result, note="preset secrets rejected")
            return
        alg = sub["preset_key_alg"] if sub["preset_key_alg"] is not None else pf.config.base_alg
        valid = sub["preset_validity"] or pf.config.preset_validity
        row.update(up_pw=sub["preset_uplink"], up_valid=valid, down_pw=sub["preset_downlink"],
                   down_valid=valid, keys_acked=1,
                   preset=1 | (2 if sub["preset_key"] else 0))
        if sub["preset_key"]:
            # The terminal has no E03E: its session keys use the base key's algorithm.
            row.update(base_key=sub["preset_key"], base_valid=valid, base_alg=alg, session_alg=None)
        pf.db.save_terminal(row)
        ack(REG_OK_PRESET, tid, note="preset secrets verified: log in now")
        return
    # Operation 0x00 / 0x01 (4.3.1.1.1.1): REGISTER_ACK 0x00, then the keys by SMS.
    want = {"up", "down"}
    if supports or pf.config.always_base_key:
        want.add("key")
    reuse = existing_same is not None and existing_same["state"] == "registered" \
        and not existing_same["keys_acked"] and existing_same["up_pw"] and not existing_same["preset"]
    if reuse:
        # A repeated REGISTER (lost ACK, 4.4.6.1): the same secrets again, so a
        # late first SMS still matches.
        secrets = {k: existing_same[k] for k in ("up_pw", "up_valid", "down_pw", "down_valid",
                                                  "base_key", "base_valid", "base_alg", "session_alg")}
        if "key" not in want:
            for k in ("base_key", "base_valid", "base_alg", "session_alg"):
                secrets[k] = None
    else:
        secrets = new_secrets(pf, want)
    row.update({k: v for k, v in secrets.items()})
    pf.db.save_terminal(row)
    ack(REG_OK_SMS_KEYS, tid, note="serial %s; keys follow by SMS in %.1f s" % (serial, pf.config.key_delay))
    schedule_key_sms(pf, serial, secrets, pf.config.key_delay, "passwords%s after registration (4.4.3.1.2)"
                     % (" and base key" if secrets.get("base_key") else ""))


def _assign_serial(pf, reported, imei, imsi, sub):
    """Appendix G a, PROTOCOL.md 1: keep the terminal's first 8 bytes, fill bytes 9..16
    with 8 hex digits of a counter.  The same SIM and device registering again get
    their serial back."""
    prefix = bytes(reported[:8])
    if sub["serial"]:
        want = serial_bytes(sub["serial"])
        if want[:8] == prefix:
            return sub["serial"]
    old = pf.db.terminal_by_imsi(imsi)
    if old is not None and old["imei"] == imei and serial_bytes(old["serial"])[:8] == prefix:
        return old["serial"]
    while True:
        n = pf.db.next_counter("serial")
        serial = serial_key(prefix + (b"%08X" % (n & 0xFFFFFFFF)))
        if pf.db.terminal(serial) is None:
            return serial


def _check_preset(pf, msg, sub):
    """REGISTER op 0x03 (4.3.1.1.1.2, 4.4.3.1.1): E026/E029 against the preset
    passwords, E03A against the preset base key.  Codes 0x0D-0x0F (platform has no
    preset), then 0x10-0x12 (terminal sent none), then 0x0A-0x0C (mismatch)."""
    valid = sub["preset_validity"] or pf.config.preset_validity
    e026, e029, e03a = msg.tlv(0xE026), msg.tlv(0xE029), msg.tlv(0xE03A)
    pw_have = bool(sub["preset_uplink"] and sub["preset_downlink"])
    key_have = bool(sub["preset_key"])
    if not pw_have:
        pw = "platform"
    elif e026 is None or e029 is None:
        pw = "terminal"
    elif e026 == D.uplink_password_digest(sub["preset_uplink"], valid) and \
            e029 == D.downlink_password_digest(sub["preset_downlink"], valid):
        pw = "ok"
    else:
        pw = "bad"
    if not key_have and e03a is None:
        key = "ok"
    elif not key_have:
        key = "platform"
    elif e03a is None:
        key = "terminal"
    elif e03a == D.base_key_digest(sub["preset_key"], valid):
        key = "ok"
    else:
        key = "bad"
    for state, codes in (("platform", (0x0D, 0x0E, 0x0F)), ("terminal", (0x10, 0x11, 0x12)),
                         ("bad", (0x0A, 0x0B, 0x0C))):
        if pw == state and key == state:
            return codes[2]
        if pw == state:
            return codes[0]
        if key == state:
            return codes[1]
    return REG_OK_PRESET


def _register_change_mapping(ctx, imei, imsi, ack):
    """REGISTER op 0x02 (4.3.1.2, appendix B 1.2): the digest (made with the old
    IMEI/IMSI and the uplink password, timestamp 0) was checked by the pipeline;
    answer 0x01 with a digest made with the old IMEI/IMSI and the downlink password."""
    pf, term, msg, route = ctx.pf, ctx.term, ctx.msg, ctx.route
    if term is None:
        ack(REG_BAD_SERIAL, note="mapping change for unknown serial %s" % serial_key(msg.serial))
        return
    serial = term["serial"]
    key = pf.downlink_key(term, None)      # old IMEI/IMSI, timestamp 0
    sub = pf.db.subscription(imsi)
    if sub is None:
        ack(REG_BAD_IMSI, key=key, note="no subscription for the new IMSI %s" % imsi)
        return
    if route.kind == "sms" and route.addr != sub["msisdn"]:
        ack(REG_BAD_IMSI, key=key, note="SMS from %s but IMSI %s belongs to %s" % (route.addr, imsi, sub["msisdn"]))
        return
    other = pf.db.terminal_by_imsi(imsi)
    if other is not None and other["serial"] != serial and online(other):
        ack(REG_IMSI_CONFLICT, key=key, note="IMSI %s is online as %s" % (imsi, other["serial"]))
        return
    other = pf.db.terminal_by_imei(imei)
    if other is not None and other["serial"] != serial and online(other):
        ack(REG_IMEI_CONFLICT, key=key, note="IMEI %s is online as %s" % (imei, other["serial"]))
        return
    old = (term["imei"], term["imsi"], term["msisdn"])
    ack(REG_MAPPING_CHANGED, serial_bytes(serial), key=key,
        note="mapping %s/%s -> %s/%s" % (old[0], old[1], imei, imsi))
    pf.db.update_terminal(serial, imei=imei, imsi=imsi, msisdn=sub["msisdn"])
    if ctx.rt is not None and ctx.rt.logged_in:
        end_session(pf, serial, "offline")


def _register_reset(ctx, imei, imsi, sub, ack):
    """REGISTER op 0x04 (4.4.4): the terminal's secrets were cleared by hand (E020);
    the platform records what was cleared and sends new ones by SMS."""
    pf, msg = ctx.pf, ctx.msg
    term = pf.db.terminal(serial_key(msg.serial))
    if term is None or term["imsi"] != imsi or term["imei"] != imei:
        ack(REG_BAD_SERIAL, note="local-reset report from an unknown serial/identity")
        return
    serial = term["serial"]
    e020 = msg.tlv(0xE020)
    bits = e020[0] if e020 else 0
    which = {name for bit, name in CLEARED_BITS if bits & bit}
    pf.db.update_terminal(serial, cleared=bits, state="registered", pending_keys=None)
    if ctx.rt is not None and ctx.rt.logged_in:
        end_session(pf, serial, "registered")
    if not pf.security_on(term):
        ack(REG_OK_NO_SECURITY, serial_bytes(serial), note="security off")
        return
    if "key" in which and not term["base_key"]:
        which.discard("key")
    secrets = new_secrets(pf, which, term["base_alg"])
    if secrets:
        pf.db.update_terminal(serial, keys_acked=0, **secrets)
    ack(REG_OK_SMS_KEYS, serial_bytes(serial),
        note="E020 = 0x%02X: cleared %s; new ones by SMS" % (bits, ", ".join(sorted(which)) or "nothing"))
    if secrets:
        schedule_key_sms(pf, serial, secrets, pf.config.key_delay, "secrets after a local reset (4.4.4)")


# == LOGIN (4.3.2, 4.4.3.2, appendix G b) ========================================

def core_crc(pf, serial):
    """CRC32 of the stored core parameters (PROTOCOL.md 7), or None if unknown: the tags
    named by 0x0025, else the tags of the last full core-config report."""
    term = pf.db.terminal(serial)
    tags = None
    v = pf.db.param(serial, 0x0025)
    if v:
        tags = [struct.unpack_from(">H", v, i)[0] for i in range(0, len(v) - 1, 2)]
    elif term is not None and term["core_tags"]:
        tags = [int(t) for t in term["core_tags"].split(",")]
    if not tags:
        return None
    tlvs = []
    for t in tags:
        val = pf.db.param(serial, t)
        if val is None:
            return None
        tlvs.append((t, val))
    return crc.config_crc32(tlvs)


def on_login(ctx):
    pf, msg, route, term, rt = ctx.pf, ctx.msg, ctx.route, ctx.term, ctx.rt
    serial = serial_key(msg.serial)
    now = int(pf.clock())
    curtime = now

    def ack(result, tlvs=(), note=""):
        resp = codec.Message(C.LOGIN_ACK, {"result": result, "curtime": curtime}, list(tlvs))
        pf.respond(ctx, resp, note=("result 0x%02X" % result) + ("; " + note if note else ""))
        pf.app_event("login", serial, result=result, msg=msg)

    if term is None:
        provisioned = [s for s in pf.db.subscriptions() if s["serial"] == serial]
        if provisioned:
            ack(LOGIN_NOT_REGISTERED, note="serial provisioned but never registered")
        else:
            ack(LOGIN_BAD_SERIAL, note="unknown serial")
        return
    if not pf.profile.version_compatible(msg.version):
        ack(LOGIN_BAD_VERSION, note="version 0x%04X" % msg.version)
        return
    sub = pf.db.subscription(term["imsi"])
    if sub is None or sub["msisdn"] != term["msisdn"]:
        ack(LOGIN_BAD_MAPPING, note="no subscription maps IMSI %s to %s" % (term["imsi"], term["msisdn"]))
        return
    if route.kind == "sms" and route.addr != term["msisdn"]:
        ack(LOGIN_BAD_MAPPING, note="SMS from %s, terminal's MSISDN is %s" % (route.addr, term["msisdn"]))
        return
    prev = ctx.prev_route
    if not pf.security_on(term) and online(term) and prev is not None and prev.kind == "tcp" \
            and route.kind == "tcp" and prev.conn is not route.conn and prev.alive:
        # Without digests nothing proves who this is: a second live TCP connection
        # with the serial of an online terminal is a conflict (G b 0x04).
        ack(LOGIN_SERIAL_CONFLICT, note="serial online on %s" % prev.text())
        return
    result = LOGIN_OK
    tlvs = []
    notes = []
    e03a = msg.tlv(0xE03A)
    session = None
    if pf.security_on(term) and term["base_key"]:
        if e03a is not None:
            ok = e03a == D.base_key_digest(term["base_key"], term["base_valid"] or 0)
            if not ok:
                pk = pf.db.pending_keys(serial) or {}
                if pk.get("base_key") and e03a == D.base_key_digest(pk["base_key"], pk.get("base_valid") or 0):
                    promote_pending(pf, serial, "E03A matches the new base key")
                    term = pf.db.terminal(serial)
                    ok = True
            if ok:
                session, e040 = _issue_session_key(pf, term, now)
                tlvs.append((0xE040, e040))
                notes.append("session key issued (%s, valid to %s)" % (
                    creds.alg_name(_session_alg(pf, term)), logfmt.when(session.valid_until)))
            else:
                result = LOGIN_OK_BAD_KEY
                notes.append("E03A does not match the base key")
        elif term["session_required"] or msg.security & H.SEC_ENCRYPTION_ENABLED:
            ack(LOGIN_MISSING_KEY, note="encryption on but no E03A")
            return
    elif e03a is not None:
        result = LOGIN_OK_BAD_KEY
        notes.append("E03A but the platform holds no base key")
    if result == LOGIN_OK:
        if term["keep_connected"]:
            result = LOGIN_OK_STAY
            notes.append("operator asks the terminal to stay connected")
        else:
            mine = core_crc(pf, serial)
            if mine is None or mine != msg.fields["config_crc32"]:
                result = LOGIN_OK_REPORT_CONFIG
                notes.append("config CRC32 0x%08X, platform %s" % (
                    msg.fields["config_crc32"], "has none" if mine is None else "0x%08X" % mine))
    # Optional TLVs of G b are stored as reported.
    for tag, v in msg.tlvs:
        if tag in (0x0011, 0x0107, 0x0108, 0x3006, 0x3007, 0x3010) and v:
            pf.db.set_param(serial, tag, v)
    e020 = msg.tlv(0xE020)
    fields = {"software_version": _text(msg.fields["software_version"]), "version": msg.version,
              "state": "online", "keys_acked": 1}
    if e020:
        fields["cleared"] = e020[0]
        notes.append("E020 = 0x%02X: secrets cleared locally (4.4.1.4)" % e020[0])
    acked_before = pf.db.terminal(serial)["keys_acked"]     # the key SMS's ACK came first
    pf.db.update_terminal(serial, **fields)
    applied = upgrade.on_version(pf, serial, fields["software_version"], "LOGIN")
    if applied:
        notes.append(applied)
    if rt.key_task is not None and not rt.key_task.done() and not pf.db.pending_keys(serial):
        # The key SMS is settled by this LOGIN: no more retransmissions; its ACK,
        # if it comes later (SMS is slower than UDP), is still recognised.  (With
        # new secrets still pending the terminal logged in with its old ones: the
        # SMS goes on.)
        rt.key_task.cancel()
        if acked_before:
            pass                    # its ACK came first and was recorded
        elif msg.digest_ok and pf.security_on(term) and "up_pw" in rt.key_what:
            notes.append("terminal stored the secrets: this LOGIN's digest verifies with them")
        else:
            notes.append("the keys delivered by SMS are in use")
    # The new connection: CURTIME is the digest timestamp from now on (PROTOCOL.md 3).
    rt.curtime = curtime
    rt.session = session
    rt.login_at = pf.clock()
    rt.awaiting_trap = True
    rt.expect_config = result == LOGIN_OK_REPORT_CONFIG
    ack(result, tlvs, "; ".join(notes))


def _session_alg(pf, term):
    return term["session_alg"] if term["session_alg"] is not None else term["base_alg"]


def _issue_session_key(pf, term, now):
    """4.4.3.2 b: a random session key for this connection, wrapped with the base
    key into E040 (PROTOCOL.md 5)."""
    alg = _session_alg(pf, term)
    length = pf.config.session_key_length if alg == creds.KEY_ALG_CODES["aes"] else None
    key = creds.key_for(alg, length)
    valid = now + pf.config.session_lifetime
    e040 = KEYS.wrap(creds.cipher_alg(term["base_alg"]), term["base_key"].encode(), key, valid,
                     pf.profile)
    return KEYS.SessionKey(creds.cipher_alg(alg), key.encode(), valid), e040


# == LOGOUT, HEART_BEAT (4.3.3, 4.3.4, appendix G c, d) ===========================

def on_logout(ctx):
    pf, msg = ctx.pf, ctx.msg
    serial = serial_key(msg.serial)
    reason = msg.fields["reason"]
    pf.respond(ctx, codec.Message(C.LOGOUT_ACK), note="reason 0x%02X" % reason)
    end_session(pf, serial, "logged-out", reason)
    if reason == 0x09:
        # 4.4.3.1.3.3: the terminal applies the new secrets after this LOGOUT_ACK.
        promote_pending(pf, serial, "LOGOUT 0x09")


def on_heart_beat(ctx):
    pf, msg = ctx.pf, ctx.msg
    serial = serial_key(msg.serial)
    for tag, v in msg.tlvs:
        if tag in (0x3005, 0x3006, 0x3007, 0x3011) and v:
            pf.db.set_param(serial, tag, v)
    pf.respond(ctx, codec.Message(C.HEART_BEAT_ACK), sign=False)


# == CONFIG_TRAP, CONFIG_REQ (4.3.5, 4.3.9.1, appendix G e, f) ======================

def unsupported(tlvs, allow_empty=(0x4011,)):
    """Tags of `tlvs` the platform cannot take: not in appendix E, an impossible
    length, or a value the catalogue refuses (G e: answer 0x01, tags with L=0)."""
    bad = []
    for tag, v in tlvs:
        if tag in allow_empty and not v:
            continue
        try:
            if not v:
                raise WmmpError("empty")
            CAT.validate(tag, v)
        except WmmpError:
            if tag not in bad:
                bad.append(tag)
    return bad


def on_config_trap(ctx):
    pf, msg, rt = ctx.pf, ctx.msg, ctx.rt
    serial = serial_key(msg.serial)
    bad = unsupported(msg.tlvs)
    if bad:
        pf.respond(ctx, codec.Message(C.CONFIG_TRAP_ACK, {"result": 0x01}, [(t, b"") for t in bad]),
                   note="unsupported: %s" % ", ".join("0x%04X" % t for t in bad))
        return
    notes = []
    for tag, v in msg.tlvs:
        if tag == 0x4010:
            notes.append(_config_result(pf, serial, v))
        elif tag == 0x4011:
            notes.append("settings changed by hand on the terminal (4.3.9.2)")
        elif tag == 0x300D:
            notes.append("ALARM codes %s" % ", ".join("0x%04X" % c for c in CAT.decode_value(tag, v)))
        elif tag == 0x300E:
            notes.append("alarms cleared %s" % ", ".join("0x%04X" % c for c in CAT.decode_value(tag, v)))
        elif tag == 0x3012:
            notes.append(upgrade.on_failure_trap(pf, serial, v))
        elif tag in (0x3004, 0x100C):
            notes.append(upgrade.on_version(pf, serial, _text(v), "0x%04X" % tag))
        if tag != 0x4011:
            pf.db.set_param(serial, tag, v)
    if rt is not None and rt.awaiting_trap and rt.logged_in:
        rt.awaiting_trap = False
        notes.append("security-verification trap after login (G b): connection verified"
                     if msg.digest_ok else "first trap after login (G b)")
        if rt.expect_config:
            rt.expect_config = False
            tags = [t for t, _ in msg.tlvs if 0x0001 <= t <= 0x0FFF and t != 0x0025]
            if tags:
                pf.db.update_terminal(serial, core_tags=",".join(str(t) for t in sorted(set(tags))))
                notes.append("core configuration reported: %s" % ", ".join("0x%04X" % t for t in sorted(set(tags))))
    pf.respond(ctx, codec.Message(C.CONFIG_TRAP_ACK, {"result": 0x00}), note="; ".join(n for n in notes if n))
    pf.app_event("trap", serial, tlvs=list(msg.tlvs))


def _config_result(pf, serial, v):
    """TLV 0x4010 (appendix E f): result of a CONFIG_SET named by its seq."""
    result, seq = v[0], struct.unpack(">I", v[1:5])[0]
    row = pf.db.pending_by_seq(serial, "CONFIG_SET", seq)
    text = {0: "applied", 1: "deferred", 2: "failed, old settings restored"}.get(result, "0x%02X" % result)
    if row is None:
        return "config result for seq %d: %s (no CONFIG_SET of ours)" % (seq, text)
    pf.db.update_pending(row["id"], "applied" if result == 0 else "deferred" if result == 1 else "failed",
                         answer={"report": result, "text": text, "time": pf.clock()})
    if result == 0:
        req = json.loads(row["request"]) if row["request"] else {}
        for tag, hx in req.get("tlvs", []):
            if tag != 0x4009:
                pf.db.set_param(serial, tag, bytes.fromhex(hx))
    return "CONFIG_SET seq %d %s (0x4010)" % (seq, text)


CONFIG_SOURCE_WAIT = 5.0     # s the applications have to supply CONFIG_REQ values (section 5.1.11.2)


def on_config_req(ctx):
    """4.3.9.1: the stored values of the requested tags; unknown tags -> 0x01 with
    the tags echoed L=0 (G f).  With the application interface on, the
    applications are asked first (section 5.1.11.2): what they supply wins."""
    pf, msg = ctx.pf, ctx.msg
    bad = [t for t, _ in msg.tlvs if not CAT.is_known(t)]
    if bad:
        pf.respond(ctx, codec.Message(C.CONFIG_REQ_ACK, {"result": 0x01}, [(t, b"") for t in bad]),
                   note="unknown tags %s" % ", ".join("0x%04X" % t for t in bad))
        return
    if pf.config_source is not None:
        pf.spawn(_config_req_asked(ctx, pf.config_source))
        return
    _config_req_answer(ctx, {})


async def _config_req_asked(ctx, source):
    serial = serial_key(ctx.msg.serial)
    try:
        given = await asyncio.wait_for(source(serial, [t for t, _ in ctx.msg.tlvs]), CONFIG_SOURCE_WAIT)
    except Exception as e:
        ctx.pf.note(serial, ctx.route, "CONFIG_REQ: no values from the applications (%s)"
                    % (type(e).__name__ if isinstance(e, asyncio.TimeoutError) else e), logging.WARNING)
        given = {}
    _config_req_answer(ctx, given or {})


def _config_req_answer(ctx, given):
    pf, msg = ctx.pf, ctx.msg
    serial = serial_key(msg.serial)
    out, missing, theirs = [], [], []
    for t, _ in msg.tlvs:
        v = given.get(t)
        if v is not None:
            theirs.append(t)
        else:
            v = pf.db.param(serial, t)
        if v is None:
            missing.append(t)
        else:
            out.append((t, v))
    notes = []
    if theirs:
        notes.append("from the applications: %s" % ", ".join("0x%04X" % t for t in theirs))
    if missing:
        notes.append("no stored value for %s" % ", ".join("0x%04X" % t for t in missing))
    pf.respond(ctx, codec.Message(C.CONFIG_REQ_ACK, {"result": 0x00}, out), note="; ".join(notes))


# == TRANSPARENT_DATA (4.3.11, appendix G j) =========================================

# Results the operator asked for (wmmp-platform data result): {platform: {serial: [result, count]}};
# count 0: until cleared.  In memory only: a test switch, gone at a restart.
_DATA_RESULTS = weakref.WeakKeyDictionary()


def set_data_result(pf, serial, result, count=1):
    """Answer the next `count` uplink TRANSPARENT_DATA of `serial` (0: all, until
    cleared) with `result` 0x01-0x04 instead of storing them; result 0x00 clears."""
    table = _DATA_RESULTS.setdefault(pf, {})
    if result == 0x00:
        table.pop(serial, None)
    else:
        table[serial] = [result, count]


def data_result(pf, serial):
    """[result, count left] set for `serial`, or None."""
    return _DATA_RESULTS.get(pf, {}).get(serial)


def _forced_result(pf, serial):
    """The result the operator forces on this TRANSPARENT_DATA, or None."""
    table = _DATA_RESULTS.get(pf)
    entry = table.get(serial) if table else None
    if entry is None:
        return None
    result, count = entry
    if count:
        entry[1] -= 1
        if entry[1] <= 0:
            del table[serial]
    return result


def on_transparent_data(ctx):
    pf, msg = ctx.pf, ctx.msg
    serial = serial_key(msg.serial)
    data = msg.tlv(0x4007) or b""

    def ack(result, note=""):
        pf.respond(ctx, codec.Message(C.TRANSPARENT_DATA_ACK, {"result": result}),
                   note="result 0x%02X" % result + ("; " + note if note else ""))

    forced = _forced_result(pf, serial)
    if forced is not None:
        ack(forced, "forced by the operator (wmmp-platform data result): %d bytes not stored" % len(data))
        return

    if crc.crc16(data, pf.profile.crc16) != msg.fields["crc16"]:
        ack(0x04, "CRC16 of the user data is wrong")
        return
    dest, ec = msg.tlv(0x4012), msg.tlv(0x4014)
    if dest is not None:
        target = serial_key(dest)
        trow = pf.db.terminal(target)
        if trow is None:
            ack(0x02, "no terminal %s" % target)
            return
        trt = pf.runtime(target)
        if not online(trow) or not trt.logged_in:
            ack(0x01, "terminal %s is offline" % target)
            return
        fwd = codec.Message(C.TRANSPARENT_DATA, {"crc16": msg.fields["crc16"]},
                            [(0x4013, H.pad_serial(msg.serial)), (0x4007, data)])
        pf.spawn(_forward(pf, target, fwd, serial))
        ack(0x00, "forwarded to %s" % target)
        return
    if ec is not None:
        pf.db.add_app_data(serial, _text(ec), data)
        ack(0x00, "%d bytes stored for EC %s" % (len(data), _text(ec)))
        pf.app_event("data", serial, data=data, ec=_text(ec))
        return
    ack(0x02, "no destination TLV (0x4012 / 0x4014)")


async def _forward(pf, target, msg, source):
    try:
        ans = await pf.request(target, msg, note="data from %s" % source)
        pf.note(target, None, "forwarded data acknowledged with 0x%02X" % ans.fields.get("result", 0xFF))
    except PlatformError as e:
        pf.note(target, None, "forwarded data not acknowledged: %s" % e, logging.WARNING)


# == SECURITY_CONFIG from the terminal (4.3.10, 4.4.3.1.3.1, appendix G m) ==============

_REQUESTABLE = {0xE025: "up", 0xE026: "up", 0xE027: "up", 0xE028: "down", 0xE029: "down",
                0xE02A: "down", 0xE036: "key", 0xE038: "key", 0xE039: "key", 0xE03A: "key"}


def on_security_config(ctx):
    pf, msg, term, rt = ctx.pf, ctx.msg, ctx.term, ctx.rt
    serial = serial_key(msg.serial)
    op = msg.fields["operation"]

    def ack(result, tlvs=(), note="", enc_tags=None):
        resp = codec.Message(C.SECURITY_CONFIG_ACK, {"result": result}, list(tlvs))
        if enc_tags:
            resp.encryption = codec.ENC_PARTIAL
            resp.encrypt_tags = tuple(enc_tags)
        pf.respond(ctx, resp, note="op 0x%02X -> 0x%02X" % (op, result) + ("; " + note if note else ""))

    if op == 0x04:
        for tag, v in msg.tlvs:
            if v:
                pf.db.set_param(serial, tag, v)
        ack(0x00, note="security parameters reported")
        return
    if op == 0x07:
        bad = unsupported(msg.tlvs)
        if bad:
            ack(0x02, [(t, b"") for t in bad])
            return
        for tag, v in msg.tlvs:
            pf.db.set_param(serial, tag, v)
        ack(0x00, note="enabling accepted")
        return
    if op in (0x05, 0x06):
        which = set()
        bad = []
        for tag, _ in msg.tlvs:
            if tag in _REQUESTABLE:
                which.add(_REQUESTABLE[tag])
            else:
                bad.append(tag)
        if bad:
            ack(0x02, [(t, b"") for t in bad])
            return
        if not which:
            which = {"up", "down"} | ({"key"} if term["base_key"] else set())
        if "key" in which and not term["base_key"] and not term["supports_encryption"]:
            ack(0x05, note="terminal has no base key / no encryption")
            return
        secrets = new_secrets(pf, which, term["base_alg"])
        pf.db.update_terminal(serial, pending_keys=json.dumps(secrets))
        if op == 0x05:
            # 4.4.3.1.3.1 b 1): accept, then the new secrets in clear by SMS.
            ack(0x00, note="new %s follow by SMS" % ", ".join(sorted(which)))
            schedule_key_sms(pf, serial, secrets, pf.config.key_delay, "secrets requested by the terminal")
            return
        if rt is None or rt.session is None:
            ack(0x05, note="no session key to encrypt with")
            return
        tlvs = secret_tlvs(secrets)
        ack(0x00, tlvs, note="new secrets inside E043 (4.4.3.1.3.1 b 2)", enc_tags=[t for t, _ in tlvs])
        return
    ack(0x03, note="operation 0x%02X is the platform's, not the terminal's" % op)


# == FILE_REQ, TRANSPARENT_CMD (appendix G l) =============================================

def on_file_req(ctx):
    """The file server of the upgrade transactions (upgrade.py, docs/PROTOCOL.md 12):
    each FILE_REQ answered by its own seq with the block and its CRC16, or 0x01-0x03."""
    upgrade.on_file_req(ctx)


def on_transparent_cmd(ctx):
    ctx.pf.respond(ctx, codec.Message(C.TRANSPARENT_CMD_ACK, {"result": 0x01}),
                   note="transparent commands are not forwarded by this simulator")


HANDLERS = {
    C.REGISTER: on_register,
    C.LOGIN: on_login,
    C.LOGOUT: on_logout,
    C.HEART_BEAT: on_heart_beat,
    C.CONFIG_TRAP: on_config_trap,
    C.CONFIG_REQ: on_config_req,
    C.TRANSPARENT_DATA: on_transparent_data,
    C.SECURITY_CONFIG: on_security_config,
    C.FILE_REQ: on_file_req,
    C.TRANSPARENT_CMD: on_transparent_cmd,
}
