"""The service console's read-only commands (docs/CONSOLE.md): STATUS (the
terminal's state, alarms, registration, the SIM as the guard sees it, the
credential and reset state), IDENT (serial, IMEI, IMSI, ICCID, firmware,
credential id), ALARMS, and AUDIT (the audit log, after AUTH).  Handlers over
the Console object (wmmp.board.console), as consoleauth, consolereset and
consoleconfig; they never show a secret.
"""

from wmmp.errors import WmmpError
from wmmp.board import consoleauth as A


def status(c, args):
    if c.sim is None:
        _status_reply(c, [])
        return
    from wmmp.terminal import simguard as G
    c.sim_call(G.status_job(c.store),
               lambda r, err: _status_reply(c, _sim_fields(r if err is None else None)))


def _status_reply(c, sim_parts):
    name, alarms, allowed = c.state()
    v = c.st.view()
    closed = A.provision_closed(c, v)
    parts = ["state=" + name,
             "alarms=" + (",".join("0x%04X" % a for a in alarms) or "none"),
             "registered=" + ("yes" if v.get(A.KEY_REGISTERED) == b"\x01" else "no")]
    parts += sim_parts
    parts += ["cleared=0x%02X" % A.uint(v.get(A.KEY_CLEARED)),
              "cleared_login=0x%02X" % A.uint(v.get(A.KEY_CLEARED_LOGIN)),
              "credential=" + ("yes" if v.get(A.KEY_CREDENTIAL) else "no"),
              "provisioning=" + ("open" if closed is None else "closed-" + closed[2]),
              "reset=" + ("allowed" if allowed else "refused"),
              "auth=" + ("yes" if c.authed() else "no"),
              "auth_failures=%d" % c.fails,
              "auth_wait=%d" % c.wait()]
    c.ok("STATUS " + " ".join(parts))


def _sim_fields(r):
    """STATUS words for a simguard.status_job result (None: the job failed)."""
    if r is None or r.get("state") is None:
        return ["sim=unreadable"]
    out = ["sim=" + A.word(r["state"])]
    if r.get("pin1") is not None:
        out.append("pin1=" + ("on" if r["pin1"] else "off"))
    left = r.get("left")
    if left is not None:
        out.append("pin1_left=%d puk1_left=%d" % (left[0], left[1]))
    errors = r.get("errors")
    if errors is None or r.get("bind") is None:
        out.append("guard=unreadable")
    else:
        out.append("pin1_errors=%d/%d" % (errors[1], errors[0]))
        out.append("bind=%d" % r["bind"])
    return out


def ident(c, args):
    if c.sim is None:
        _ident_reply(c, {})
        return
    c.sim_call(_ident_job(), lambda r, err: _ident_reply(c, r if err is None else {}))


def _ident_reply(c, read):
    v = c.st.view()
    imei = read.get("imei") or c.imei
    imsi = read.get("imsi") or v.get("imsi")
    iccid = read.get("iccid")
    w = A.word
    c.ok("IDENT serial=%s imei=%s imsi=%s iccid=%s fw=%s cred_id=%s" % (
        w(v.get(A.KEY_SERIAL)), w(imei), w(imsi), w(iccid), w(c.firmware),
        w(v.get(A.KEY_CRED_ID) if v.get(A.KEY_CREDENTIAL) else None)))


def _ident_job():
    """IDENT's reads as a SIM job: {"imei", "imsi", "iccid": value} of those
    the SIM and module answered."""
    out = {}
    for attr in ("imei", "imsi", "iccid"):
        try:
            out[attr] = yield (attr, ())
        except WmmpError:
            pass
    return out


def alarms(c, args):
    name, alarms, _ = c.state()
    c.ok("ALARMS n=%d%s" % (len(alarms), "".join(" 0x%04X" % a for a in alarms)))


def audit_export(c, args):
    if not c.authed():
        c.refuse("need_auth", "AUDIT needs CHALLENGE and AUTH first", "AUDIT")
        return
    n = None
    if args:
        try:
            n = int(args[0])
        except ValueError:
            n = -1
        if n < 1:
            c.refuse("syntax", "AUDIT [count], count >= 1", "AUDIT")
            return
    try:
        entries = c.st.entries()
    except WmmpError:
        c.err("storage", "audit log unreadable")
        return
    if n is not None:
        entries = entries[-n:]
    for seq, event, detail in entries:
        c.reply("* %d %s %s" % (seq, event, detail))
    c.ok("AUDIT n=%d" % len(entries))
