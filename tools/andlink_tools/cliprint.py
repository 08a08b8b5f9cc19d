"""What `andlink-platform` prints for the control socket's answers: results of
device requests, the device list, one device, FOTA records, data rows -- one
line per value, times in UTC+8 (wmmp_tools.logfmt), secrets as the platform
sent them (hidden unless --show-secrets)."""

import json

from andlink_tools import objects
from wmmp_tools import logfmt


def one_line(t):
    return str(t).replace("\n", " ")[:500]


def entry_line(e):
    v = e["value"]
    text = json.dumps(v, ensure_ascii=False, sort_keys=True) if isinstance(v, (dict, str)) and e["type"] != "opaque" \
        else ("hex:" + v if e["type"] == "opaque" and v != "***" else str(v).lower() if isinstance(v, bool) else str(v))
    if v == "***":
        text = "*** (hidden: --show-secrets)"
    p = objects.parse_path(e["path"])
    line = "%s = %s" % (e["path"], text)
    name = objects.name(p)
    if p[:3] == (5, 0, 3) and isinstance(v, int):
        name += ": " + objects.FW_STATES.get(v, "?")
    if p[:3] == (5, 0, 5) and isinstance(v, int):
        name += ": " + objects.FW_RESULTS.get(v, "?")
    if name:
        line += "  (%s)" % name
    if e.get("note"):
        line += "  [%s]" % e["note"]
    return line


def print_result(reply, out):
    """True when the device answered 2.xx (or the request is queued)."""
    if reply.get("queued"):
        out.write("queued: %s\n" % reply["note"])
        return True
    r = reply["result"]
    out.write("%s %s -> %s%s\n" % (r["op"], r["path"], r["code_text"],
                                   " (%s)" % r["format"] if r.get("format") else ""))
    for e in r["entries"]:
        out.write("  %s\n" % entry_line(e))
    for link in r.get("links") or []:
        attrs = "".join(";%s" % k if v is None else ";%s=%s" % (k, v) for k, v in link["attrs"].items())
        out.write("  <%s>%s\n" % (link["uri"], attrs))
    if r.get("location"):
        out.write("  created: %s\n" % r["location"])
    if r.get("decode_error"):
        out.write("  payload not decoded: %s\n  hex: %s\n" % (r["decode_error"], r.get("payload_hex")))
    if r.get("diagnostic"):
        out.write("  diagnostic: %s\n" % one_line(r["diagnostic"]))
    return r["code"].startswith("2.")


def when(t):
    return logfmt.stamp(t) if t else "-"


def print_list(reply, out):
    pf = reply["platform"]
    out.write("platform: CoAP %s, bootstrap %s, files %s%s\n" % (
        pf["coap"], pf["bootstrap"] or "off", pf["files"],
        ", products checked" if pf["products_checked"] else ""))
    if not reply["devices"]:
        out.write("no device\n")
    for d in reply["devices"]:
        state = "registered %s, b %s, lt %s" % (d["location"], d["binding"], d["lifetime"]) if d["registered"] \
            else "not registered"
        out.write("%-17s %-44s fw %-10s sw %-10s auth %-9s seen %s%s\n" % (
            d["ep"], state, d["firmware"] or "-", d["software"] or "-", d["auth"], when(d["last_seen"]),
            ", %d queued" % d["queued"] if d["queued"] else ""))


def print_show(reply, out):
    d = reply["device"]
    r = d["registration"]
    out.write("%s\n" % d["ep"])
    if r:
        out.write("  registration %s from %s: lt %d s (ends %s), lwm2m %s, b %s%s, sms %s\n" % (
            r["location"], r["address"], r["lifetime"], when(r["expires_at"]), r["lwm2m"], r["binding"],
            " (queue mode)" if r["queue_mode"] else "", r["sms"] or "-"))
        out.write("  objects %s\n" % " ".join(r["objects"]))
        for n in r["notes"]:
            out.write("  note: %s\n" % n)
    else:
        out.write("  not registered\n")
    a = d["auth"]
    out.write("  product check: %s%s%s\n" % (a.get("state"), ", device type %s" % a["device_type"]
                                             if a.get("device_type") else "", ": " + a["reason"] if a.get("reason") else ""))
    if d["bootstrap"]:
        b = d["bootstrap"]
        out.write("  bootstrap %s: %s%s\n" % (when(b["time"]), b["state"], " at %s: %s" % (
            b.get("failed_step"), b.get("reason")) if b["state"] == "failed" else ""))
    for v in d["values"]:
        out.write("  %s\n" % entry_line(v))
    for o in d["observations"]:
        out.write("  observing %s (%s, %d notifications)\n" % (o["path"], o["origin"], o["notifications"]))
    for j in d["queued"]:
        out.write("  queued: job %d %s %s\n" % (j["job"], j["op"], j["path"]))
    for h in d["history"]:
        out.write("  %s  %s\n" % (when(h["time"]), one_line(h["event"])))
    if reply.get("fota"):
        print_fota([reply["fota"]], out)


def bar(pct, width=24):
    n = max(0, min(width, int(round(pct * width / 100.0))))
    return "[" + "#" * n + "-" * (width - n) + "]"


def print_fota(records, out):
    for f in records:
        out.write("%-17s FOTA %s %s %-10s %s %5.1f%%  %s%s\n" % (
            f["ep"], "SOTA" if f["sota"] else "", f["version"], f["state"], bar(f["percent"]), f["percent"],
            "result %s (%s)" % (f["result"], f["result_text"]) if f["result"] is not None else "",
            ": " + f["reason"] if f.get("reason") else ""))


def print_row(row, out):
    vals = "; ".join(entry_line(e) for e in row["entries"]) or "(empty)"
    out.write("%s %s %-7s %s\n" % (when(row["time"]), row["ep"], row["kind"], vals))
