"""Security (sections 4.3.10, 4.4.2 and 4.4.3, appendix G m): the platform's
SECURITY_CONFIG (new passwords and keys, reads of values and digests, the
notice of an update by SMS), the terminal's own requests (operations 0x04-0x07),
changing a secret through LOGOUT 0x09 with a way back to the old one, and the
session key (E040, PROTOCOL.md 5).  SIM parameters (E001, E003, E00D and the SIM
digests) are the SIM flow's (wmmp.terminal.sim).

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

from micropython import const

from wmmp.wire import catalogue as CAT, codec, codes as K, commands as C
from wmmp.wire import keys as KEYS, profile as P
from wmmp.crypto import cipher as CI
from wmmp.errors import WmmpError
from wmmp.terminal.core import S_REGISTERING, S_WAIT_KEYS, S_ONLINE, relogin

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_SEC_OP_SET = const(0x00)
_SEC_OP_READ_ENCRYPTED = const(0x01)
_SEC_OP_READ_DIGESTS = const(0x02)
_SEC_OP_UPDATE_NOTICE = const(0x03)
_SEC_OP_REQ_UPDATE_CLEAR = const(0x05)
_SEC_OP_REQ_UPDATE_ENCRYPTED = const(0x06)
_SEC_ACK_NO_ENCRYPTION = const(0x05)

_SECRETS = (0xE025, 0xE028, 0xE036)          # uplink, downlink password; base key
_SIM_TAGS = (0xE001, 0xE003, 0xE00D)         # SECURITY_CONFIG op 0x00 for the SIM flow
_SIM_READS = (0xE002, 0xE003, 0xE00D, 0xE016, 0xE018)


def init(t):
    t._fallback = None           # old secrets while a new one is tried (4.4.3.1.3.3)


def _ack(t, msg, bearer, result, tlvs=()):
    t.respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": result}, list(tlvs)), bearer)


def _refuse(t, msg, bearer, tags):
    _ack(t, msg, bearer, K.SEC_ACK_UNSUPPORTED_TLV, [(tag, b"") for tag in tags])


def on_security_config(t, msg, bearer, now):
    """4.3.10, 4.4.3 / G m.  Operation 0x00 sets passwords and keys: in clear
    only by SMS (or inside E043); 0x03 opens the SMS window."""
    op = msg.fields["operation"]
    if op == _SEC_OP_SET:
        # the usual case first, without building tag lists
        for tag, _ in msg.tlvs:
            if tag in _SIM_TAGS:
                t.sim_config(msg, bearer, now)
                return
        _set(t, msg, bearer, now)
        return
    tags = [tag for tag, _ in msg.tlvs]
    if op == _SEC_OP_UPDATE_NOTICE:
        # 4.4.3.1.3.2 a.1: acknowledge, then wait 0x0026 s for the new values by SMS.
        _ack(t, msg, bearer, K.SEC_ACK_OK)
        t.event("sms_window", True)
        t._timers["sms_update"] = now + t.params.get_int(0x0026, 120)
    elif op == _SEC_OP_READ_ENCRYPTED:
        # G m 0x01: the values, only inside E043 under the session key.
        p = t.params
        vals = [(tag, p.get("secret_pin1") if tag == 0xE001 else p.get(tag)) for tag in tags]
        if t.session is None:
            _ack(t, msg, bearer, _SEC_ACK_NO_ENCRYPTION)
        elif [tag for tag, v in vals if v is None or not 0xE001 <= tag <= 0xFFFF]:
            _refuse(t, msg, bearer, [tag for tag, v in vals if v is None])
        else:
            ack = codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK}, vals)
            ack.encryption = codec.ENC_PARTIAL
            ack.encrypt_tags = tuple(tags)
            t.respond(msg, ack, bearer)
    elif op == _SEC_OP_READ_DIGESTS and t.sim is not None and [tag for tag in tags if tag in _SIM_READS]:
        t.sim_read(msg, bearer, now)
    elif op == _SEC_OP_READ_DIGESTS:
        out = []
        for tag in tags:
            v = _digest_of(t, t.params, tag)
            if v is None:
                out = None
                break
            out.append((tag, v))
        if out is None:
            _refuse(t, msg, bearer, tags)
        else:
            _ack(t, msg, bearer, K.SEC_ACK_OK, out)
    else:
        _refuse(t, msg, bearer, tags)


def _digest_of(t, p, tag):
    """Operation 0x02's answer for `tag`: a secret's digest or a switch's value."""
    if tag in (0xE026, 0xE029, 0xE03A):
        return t.secret_digest(tag)
    if tag in (0xE003, 0xE00D, 0xE022, 0xE031, 0xE032, 0xE035, 0xE039, 0xE041) and p.get(tag):
        return p.get(tag)
    return None


def _set(t, msg, bearer, now):
    """Operation 0x00: validate all, answer, then apply (a new secret while
    online through LOGOUT 0x09, 4.4.3.1.3.2 b / 4.4.3.1.3.3)."""
    secret = False
    for tag, _ in msg.tlvs:
        if tag in _SECRETS:
            secret = True
    if secret and bearer != P.BEARER_SMS and msg.encryption != codec.ENC_PARTIAL \
            and msg.encryption != codec.ENC_FULL:
        _refuse(t, msg, bearer, [tag for tag, _ in msg.tlvs if tag in _SECRETS])
        return
    bad = None
    for tag, v in msg.tlvs:
        try:
            CAT.validate(tag, v)
        except WmmpError:
            if bad is None:
                bad = []
            bad.append(tag)
    if bad:
        _refuse(t, msg, bearer, bad)
        return
    first = t.state == S_WAIT_KEYS
    _ack(t, msg, bearer, K.SEC_ACK_OK)
    if secret:
        t._timers.pop("sms_update", None)
    if secret and not first and t.state == S_ONLINE:
        # LOGOUT 0x09 (signed with the old secret), apply the new one only after
        # LOGOUT_ACK, then log in with it.
        pending = list(msg.tlvs)
        t.event("security_pending", [tag for tag, _ in pending])
        t.logout(K.LOGOUT_UPDATE_KEYS, now, then=lambda t, now2: apply_new_secrets(t, pending, now2),
                 on_fail=relogin)
        return
    for tag, v in msg.tlvs:
        t.params.set(tag, v)
    if first:
        t.keys_received(now)
        return
    if secret and t.state == S_REGISTERING:
        # the key SMS overtook REGISTER_ACK (PROTOCOL.md 10): keep the keys; REGISTER_ACK
        # 0x00 then logs in at once instead of opening the SMS window
        t._early_keys = True
    t.params.commit()
    t.event("security_set", [tag for tag, _ in msg.tlvs])


def apply_new_secrets(t, tlvs, now):
    """Use the new secret for the next login; keep the old one to fall back to
    if that login is refused or its retries run out (4.4.3.1.3.3).  Nothing is
    written to storage until a login with the new secret succeeds."""
    t._fallback = t.params.snapshot([tag for tag, _ in tlvs])
    for tag, v in tlvs:
        t.params.set(tag, v)
    t.login(now)


def fall_back(t, now):
    """The new secret was refused: restore the old one and log in with it."""
    t.params.restore(t._fallback)
    t._fallback = None
    t._login_attempts = 0
    t.event("secrets_fallback")
    t.login(now)


def security_request(t, op, now, tags=()):
    """Terminal-initiated SECURITY_CONFIG (G m, 4.4.3.1.3.1):
      0x04 report: digests of the passwords/base key and the switches, in clear
      0x05 ask for new values in clear: on ACK 0x00 the SMS window opens (0x0026)
      0x06 ask for new values encrypted: the ACK carries them in E043; applied
           through LOGOUT 0x09 like any new secret
      0x07 ask to enable switches named in `tags` (e.g. E032 with its value)
    `tags` for 0x05/0x06 are the secrets wanted (E025, E028, E036)."""
    t._now = now
    p = t.params
    if op == K.SEC_OP_REPORT:
        tl = [(tag, t.secret_digest(tag)) for tag in (0xE026, 0xE029, 0xE03A) if t.secret_digest(tag)]
        tl += [(tag, p.get(tag)) for tag in (0xE022, 0xE032) if p.get(tag) is not None]
    elif op in (_SEC_OP_REQ_UPDATE_CLEAR, _SEC_OP_REQ_UPDATE_ENCRYPTED):
        tl = [(tag, b"") for tag in tags]
    elif op == K.SEC_OP_REQ_ENABLE:
        tl = list(tags)
    else:
        raise ValueError("terminal SECURITY_CONFIG operations are 0x04-0x07")

    def answered(t, ack, now2):
        r = ack.fields.get("result")
        t.event("security_answer", op, r)
        if r != K.SEC_ACK_OK:
            return
        if op == _SEC_OP_REQ_UPDATE_CLEAR:
            t.event("sms_window", True)
            t._timers["sms_update"] = now2 + p.get_int(0x0026, 120)
        elif op == _SEC_OP_REQ_UPDATE_ENCRYPTED and ack.tlvs:
            pending = list(ack.tlvs)
            t.logout(K.LOGOUT_UPDATE_KEYS, now2,
                     then=lambda t, now3: apply_new_secrets(t, pending, now3), on_fail=relogin)
        elif op == K.SEC_OP_REQ_ENABLE:
            for tag, v in tl:
                p.set(tag, v)
            p.commit()
    return t.request(codec.Message(C.SECURITY_CONFIG, {"operation": op}, tl), on_ack=answered)


# == the session key (PROTOCOL.md 5) =============================================
def unwrap_session_key(t, e040):
    """The session key LOGIN_ACK carried in E040, under the base key E036."""
    try:
        t.session = KEYS.unwrap(CI.alg_from_key_alg(t.params.get_int(0xE039, 1)),
                                t.params.get(0xE036), e040, _session_alg(t.params), t.profile)
        t.event("session_key", t.session.valid_until)
    except WmmpError as e:
        t.event("error", "session key: %s" % e)


def _session_alg(p):
    """Algorithm of the session key: E035 (message encryption algorithm) when
    set, else E03E, else the base key's (E039); codes per PROTOCOL.md 5."""
    v = p.get(0xE035)
    if v and v[0]:
        return CI.alg_from_e035(v[0])
    v = p.get(0xE03E)
    return CI.alg_from_key_alg(v[0]) if v else None


# == timers ==================================================================
def on_session_expired(t, now):
    """The session key's validity ended: LOGOUT 0x08, log in for a new one."""
    if t.state == S_ONLINE:
        t.logout(K.LOGOUT_SESSION_KEY_EXPIRED, now, then=relogin)


def on_sms_update(t, now):
    """4.4.3.1.3.2 a.1: the new secret did not come by SMS in time."""
    t.event("sms_window", False)
    t.raise_alarm(K.ALARM_SMS_RECEIVE_TIMEOUT, now, 0x01)
