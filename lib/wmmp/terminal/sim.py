"""The SIM card (section 4.4.1, appendix B 6): the boot checks of PIN1 and the
binding before anything is sent, the platform's SIM parameters in
SECURITY_CONFIG (E00D bind, unbind, clear; E001/E003 PIN1 through LOGOUT 0x0A)
and its reads of the SIM digests.  The rules themselves are the SIM guard's
(wmmp.terminal.simguard); this flow runs its jobs (t.sim_run) and answers.

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

import struct

from micropython import const

from wmmp.wire import codec, codes as K, commands as C, profile as P, tlv as T
from wmmp.errors import WmmpError
from wmmp.terminal.core import S_ONLINE
from wmmp.terminal import simguard as SG

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_LOGOUT_UPDATE_SIM_SECURITY = const(0x0A)
_SEC_ACK_SIM_DIGEST_ERROR = const(0x04)


def boot(t, now):
    """4.4.1.1: PIN1 and binding checks before anything is sent; then on with
    the boot (registration.boot_on), or the alarm that needs a person."""
    t.sim_run(SG.SimGuard(t.sim, t.params).boot_job(), _booted)


def _booted(t, r, err, now):
    if err is not None:
        r = SG.Result(SG.ALARM, "SIM unreachable: %s" % (err,), K.ALARM_SELF_TEST_FAULT)
    t.event("sim", r.state, r.reason)
    if r.state == SG.ALARM:
        t.raise_alarm(r.alarm, now, r.alarm_type)
        t.enter_alarm(now, r.reason, r.alarm)
        return
    if r.imsi:
        t.cfg.imsi = r.imsi if isinstance(r.imsi, str) else r.imsi.decode()
    t.boot_on(now)


def read(t, msg, bearer, now):
    """SECURITY_CONFIG operation 0x02 naming SIM digests (E002, E003, E00D,
    E016, E018): answered when the SIM job is done."""
    tags = [tag for tag, _ in msg.tlvs]

    def answer(t, out, err, now2):
        if err is None:
            t.respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK}, out), bearer)
        else:
            t.respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_UNSUPPORTED_TLV},
                                         [(tag, b"") for tag in tags]), bearer)
    t.sim_run(SG.read_tlvs_job(t.params, t.serial, tags), answer, (msg.command, msg.seq))


def config(t, msg, bearer, now):
    """SECURITY_CONFIG op 0x00 with SIM parameters (4.4.1.2, appendix B 6):
    E00D 0x00/0x01/0x02 unbind, bind, clear; E001/E003 (PIN1 in clear only by
    SMS, else inside E043): ACK, LOGOUT 0x0A, apply on the SIM after checking
    the old PIN, log in again, report success (0x4010) or raise the alarm."""
    ack = codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK})
    if t.sim is None:
        ack.fields["result"] = K.SEC_ACK_UNSUPPORTED_TLV
        ack.tlvs = [(tag, b"") for tag, _ in msg.tlvs]
        t.respond(msg, ack, bearer)
        return
    pin = T.find(msg.tlvs, 0xE001)
    if pin is not None and bearer != P.BEARER_SMS and msg.encryption == codec.ENC_NONE:
        ack.fields["result"] = K.SEC_ACK_UNSUPPORTED_TLV
        ack.tlvs = [(0xE001, b"")]
        t.respond(msg, ack, bearer)
        return
    bind = T.find(msg.tlvs, 0xE00D)
    enable = T.find(msg.tlvs, 0xE003)
    if bind is None:
        _configured(t, msg, bearer, ack, pin, enable, None, None, now)
    elif bind in (b"\x00", b"\x01", b"\x02"):
        job = SG.unbind_job(t.params) if bind == b"\x00" else \
            SG.bind_job(t.params) if bind == b"\x01" else SG.clear_job(t.params)
        t.sim_run(job, lambda t, r, err, now2: _configured(t, msg, bearer, ack, pin, enable, r, err, now2),
                  (msg.command, msg.seq))
    else:
        ack.fields["result"] = _SEC_ACK_SIM_DIGEST_ERROR
        t.respond(msg, ack, bearer)


def _configured(t, msg, bearer, ack, pin, enable, r, err, now):
    """E00D done (or none): commit, ACK, then E001/E003 after LOGOUT 0x0A."""
    if r is not None and err is None:
        try:
            t.params.commit()
        except WmmpError as e:
            err = e
    if err is not None:
        ack.fields["result"] = _SEC_ACK_SIM_DIGEST_ERROR
        t.respond(msg, ack, bearer)
        return
    t.respond(msg, ack, bearer)
    if pin is None and enable is None:
        return
    seq = msg.seq

    def applied(t, r2, err2, now2):
        if err2 is None:
            t.params.commit()
            t._after_login.append([(0x4010, b"\x00" + struct.pack(">I", seq))])
            t.event("sim_pin_applied")
        else:
            t.event("sim_pin_failed", type(err2).__name__)
            t._after_login.append([(0x4010, b"\x02" + struct.pack(">I", seq))])
            t.raise_alarm(K.ALARM_SELF_TEST_FAULT, now2)
        t.login(now2)

    def apply_and_login(t, now2):
        t.sim_run(SG.apply_pin1_job(t.params, pin, enable), applied)
    if t.state == S_ONLINE:
        t.logout(_LOGOUT_UPDATE_SIM_SECURITY, now, then=apply_and_login)
    else:
        apply_and_login(t, now)
