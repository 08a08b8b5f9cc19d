"""Remote control on a board (section 4.3.7, appendix E f 0x4001, 0x4021): what
wmmp.board.device carries out of the engine's REMOTE_CTRL events, and what it
declares it can (Config.controls, Config.outputs).  Functions over the device
`dev` (wmmp.board.device.Device), which calls them; portable.

    declare(dev, cfg, s, applies)  the 0x4001 codes, outputs, transport
    apn_event(dev, code, seq)      ("apn", code, seq): 0x09 / 0x0C
    await switch_apn(dev, code, seq)   in the next session: the new APN, or the old one back
    await reset_board(dev)         0x4001 0x02 after LOGOUT: module restart, board.reset()
    output(dev, oid, on)           ("peripheral", id, on): 0x4021, TLV 0x300F
    init_outputs(dev)              every declared output low at start
"""

import struct

from wmmp.board import cellular, settings
from wmmp.wire import codes as K


def declare(dev, cfg, s, applies):
    """What this board carries out (the engine refuses the rest): suspend,
    resume and restart always; upload (0x07) with board.on_upload or a data
    port (the bridge sends its buffered frames, PROTOCOL.md 11); 0x09 with a
    platform APN, 0x0C with an application APN."""
    c = [K.RC_SUSPEND_SERVICE, K.RC_RESUME_SERVICE, K.RC_RESTART]
    if getattr(dev.board, "on_upload", None) is not None or dev.data_caps() is not None:
        c.append(K.RC_UPLOAD_SERVICE_DATA)
    if s["platform_apn"]:
        c.append(K.RC_APN_TO_PLATFORM)
    if s["app_apn"]:
        c.append(K.RC_APN_TO_APPLICATION)
    cfg.controls = tuple(c)
    cfg.applies = applies
    cfg.outputs = tuple(sorted(outputs(dev)))
    cfg.tcp = s["transport"] == "tcp"
    cfg.long_connection = s["long_connection"]


def apn_event(dev, code, seq):
    """0x4001 0x09 / 0x0C: switch in the next session (the runner stops once
    REMOTE_CTRL_ACK is sent); nothing to do when that APN is in use already."""
    s = settings.resolve(getattr(dev.board, "SETTINGS", None), dev.params)
    target = s["app_apn"] if code == K.RC_APN_TO_APPLICATION else s["platform_apn"]
    if target == dev.drv.apn:
        dev.params.set("apn_use", b"app") if code == K.RC_APN_TO_APPLICATION else \
            dev.params.delete("apn_use")
        dev.params.commit()
        dev.term.control_done(seq, True, dev.clock())
        return
    dev.log("device: switching to the %s APN %s (0x4001 0x%02X)" % (
        "application's" if code == K.RC_APN_TO_APPLICATION else "platform's", target, code))
    dev._switch = (code, seq)
    dev._restart = "apn"
    dev.runner.stop()


async def switch_apn(dev, code, seq):
    """Use the APN of 0x4001 `code` (kept across restarts) and connect with it;
    when the network refuses it the old one is used again.  0x4010 reports
    the outcome after the next login (control_done)."""
    p = dev.params
    old = p.get("apn_use")
    if code == K.RC_APN_TO_APPLICATION:
        p.set("apn_use", b"app")
    else:
        p.delete("apn_use")
    p.commit()
    s = dev._settings()
    ok = True
    try:
        await cellular.set_apn(dev.kind, dev.drv, s["apn"], s["auth"])
        await cellular.connect(dev.kind, dev.drv)
        dev.log("device: APN %s in use" % (s["apn"],))
    except Exception as e:       # any failure: back to the old APN
        ok = False
        dev.log("device: APN %s refused (%r): back to %s" % (s["apn"], e, dev.settings["apn"]))
        if old is None:
            p.delete("apn_use")
        else:
            p.set("apn_use", old)
        p.commit()
        s = dev._settings()
        try:
            await cellular.set_apn(dev.kind, dev.drv, s["apn"], s["auth"])
        except Exception as e2:
            dev.log("device: module restart failed (%r)" % (e2,))
    dev.term.control_done(seq, ok, dev.clock())
    return s


async def reset_board(dev):
    """0x4001 0x02: the engine has logged out; save, restart the module, reset."""
    dev._restart = None
    dev.params.commit()
    dev.log("device: remote restart (0x4001 0x02): restarting the module and the board")
    try:
        await cellular.restart_module(dev.kind, dev.drv)
    except Exception as e:
        dev.log("device: module restart failed (%r)" % (e,))
    if getattr(dev.board, "reset", None) is not None:
        dev.board.reset()        # machine.reset(): never returns on a board
    dev.term = None              # no reset (a host): a new Terminal, as after one


def outputs(dev):
    """{peripheral id: pin} of board.OUTPUTS (0x4021)."""
    return getattr(dev.board, "OUTPUTS", None) or {}


def output(dev, oid, on):
    """Drive output `oid` (0x4021) and keep TLV 0x300F (id:u16 state:u8 each)."""
    outs = outputs(dev)
    try:
        import machine
        machine.Pin(outs[oid], machine.Pin.OUT).value(1 if on else 0)
        dev._outs[oid] = 1 if on else 0
    except Exception as e:
        dev.log("device: output 0x%04X not switched: %r" % (oid, e))
        dev._outs[oid] = 2
    dev.params.set_volatile(0x300F, b"".join(struct.pack(">HB", i, dev._outs.get(i, 0))
                                             for i in sorted(outs)))


def init_outputs(dev):
    """Every declared output low (off) at start."""
    for oid in sorted(outputs(dev)):
        output(dev, oid, False)
