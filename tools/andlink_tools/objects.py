"""The LwM2M objects the And-link profile uses (spec section 5.2: 0-7 and 20; 19
for the device-specific parameters, 4.2.2; the And-link resources 3/26261 and
5/26550 of 4.4.4) with each resource's name, type and whether it has instances
-- what a TLV or plain-text value needs to be read -- and LwM2M paths.

Types follow the OMA LwM2M TS 1.x data types: string, integer, unsigned,
float, boolean, opaque, time, objlnk, and "none" for executable resources.
Written here from the OMA object definitions (the simulator is an independent
check of the device, so nothing comes from lib/andlink)."""

S, I, F, B, O, T, L, E = "string", "integer", "float", "boolean", "opaque", "time", "objlnk", "none"

# object id -> (name, {resource id: (name, type, multiple)})
OBJECTS = {
    0: ("Security", {
        0: ("LwM2M Server URI", S, False), 1: ("Bootstrap-Server", B, False),
        2: ("Security Mode", I, False), 3: ("Public Key or Identity", O, False),
        4: ("Server Public Key", O, False), 5: ("Secret Key", O, False),
        6: ("SMS Security Mode", I, False), 7: ("SMS Binding Key Parameters", O, False),
        8: ("SMS Binding Secret Key(s)", O, False), 9: ("LwM2M Server SMS Number", S, False),
        10: ("Short Server ID", I, False), 11: ("Client Hold Off Time", I, False),
        12: ("Bootstrap-Server Account Timeout", I, False)}),
    1: ("Server", {
        0: ("Short Server ID", I, False), 1: ("Lifetime", I, False),
        2: ("Default Minimum Period", I, False), 3: ("Default Maximum Period", I, False),
        4: ("Disable", E, False), 5: ("Disable Timeout", I, False),
        6: ("Notification Storing When Disabled or Offline", B, False), 7: ("Binding", S, False),
        8: ("Registration Update Trigger", E, False), 9: ("Bootstrap-Request Trigger", E, False),
        10: ("APN Link", L, False), 11: ("TLS-DTLS Alert Code", I, False),
        12: ("Last Bootstrapped", T, False), 13: ("Registration Priority Order", I, False),
        14: ("Initial Registration Delay Timer", I, False), 15: ("Registration Failure Block", B, False),
        16: ("Bootstrap on Registration Failure", B, False), 17: ("Communication Retry Count", I, False),
        18: ("Communication Retry Timer", I, False), 19: ("Communication Sequence Delay Timer", I, False),
        20: ("Communication Sequence Retry Count", I, False), 21: ("Trigger", B, False),
        22: ("Preferred Transport", S, False), 23: ("Mute Send", B, False)}),
    2: ("Access Control", {
        0: ("Object ID", I, False), 1: ("Object Instance ID", I, False), 2: ("ACL", I, True),
        3: ("Access Control Owner", I, False)}),
    3: ("Device", {
        0: ("Manufacturer", S, False), 1: ("Model Number", S, False), 2: ("Serial Number", S, False),
        3: ("Firmware Version", S, False), 4: ("Reboot", E, False), 5: ("Factory Reset", E, False),
        6: ("Available Power Sources", I, True), 7: ("Power Source Voltage", I, True),
        8: ("Power Source Current", I, True), 9: ("Battery Level", I, False),
        10: ("Memory Free", I, False), 11: ("Error Code", I, True), 12: ("Reset Error Code", E, False),
        13: ("Current Time", T, False), 14: ("UTC Offset", S, False), 15: ("Timezone", S, False),
        16: ("Supported Binding and Modes", S, False), 17: ("Device Type", S, False),
        18: ("Hardware Version", S, False), 19: ("Software Version", S, False),
        20: ("Battery Status", I, False), 21: ("Memory Total", I, False), 22: ("ExtDevInfo", L, True),
        26261: ("MCU Memory Free", I, False)}),
    4: ("Connectivity Monitoring", {
        0: ("Network Bearer", I, False), 1: ("Available Network Bearer", I, True),
        2: ("Radio Signal Strength", I, False), 3: ("Link Quality", I, False),
        4: ("IP Addresses", S, True), 5: ("Router IP Addresses", S, True),
        6: ("Link Utilization", I, False), 7: ("APN", S, True), 8: ("Cell ID", I, False),
        9: ("SMNC", I, False), 10: ("SMCC", I, False), 11: ("SignalSNR", I, False), 12: ("LAC", I, False)}),
    5: ("Firmware Update", {
        0: ("Package", O, False), 1: ("Package URI", S, False), 2: ("Update", E, False),
        3: ("State", I, False), 4: ("Update Supported Objects", B, False), 5: ("Update Result", I, False),
        6: ("PkgName", S, False), 7: ("PkgVersion", S, False),
        8: ("Firmware Update Protocol Support", I, True), 9: ("Firmware Update Delivery Method", I, False),
        26550: ("Switch to MCU Update", E, False)}),
    # Location as in LwM2M TS 1.0 appendix E.7, whose coordinates are strings: the
    # And-link spec's examples (6.5.4, 6.9.4) send "26.0" / "171.0" as TLV text.
    6: ("Location", {
        0: ("Latitude", S, False), 1: ("Longitude", S, False), 2: ("Altitude", S, False),
        3: ("Uncertainty", S, False), 4: ("Velocity", O, False), 5: ("Timestamp", T, False),
        6: ("Speed", F, False)}),
    7: ("Connectivity Statistics", {
        0: ("SMS Tx Counter", I, False), 1: ("SMS Rx Counter", I, False), 2: ("Tx Data", I, False),
        3: ("Rx Data", I, False), 4: ("Max Message Size", I, False), 5: ("Average Message Size", I, False),
        6: ("Start", E, False), 7: ("Stop", E, False), 8: ("Collection Period", I, False)}),
    19: ("BinaryAppDataContainer", {
        0: ("Data", O, True), 1: ("Data Priority", I, False), 2: ("Data Creation Time", T, False),
        3: ("Data Description", S, False), 4: ("Data Format", S, False), 5: ("App ID", I, False)}),
    20: ("Event Log", {
        4010: ("LogClass", I, False), 4011: ("LogStart", E, False), 4012: ("LogStop", E, False),
        4013: ("LogStatus", I, False), 4014: ("LogData", O, False), 4015: ("LogDataFormat", I, False)}),
}

# Firmware Update (object 5) values, spec section 4.4.2
FW_STATES = {0: "idle", 1: "downloading", 2: "downloaded", 3: "updating"}
FW_RESULTS = {0: "initial", 1: "update succeeded", 2: "not enough storage", 3: "out of memory during download",
              4: "connection lost during download", 5: "integrity check failure", 6: "unsupported package type",
              7: "invalid URI", 8: "update failed", 9: "unsupported protocol"}


def resource(obj, res):
    """(name, type, multiple) of resource `res` of object `obj`, or None."""
    o = OBJECTS.get(obj)
    return o[1].get(res) if o else None


def rtype(path):
    """The data type of the resource a path (tuple) names, or None when unknown."""
    if len(path) < 3:
        return None
    r = resource(path[0], path[2])
    return r[1] if r else None


def is_multiple(path):
    r = resource(path[0], path[2]) if len(path) >= 3 else None
    return bool(r and r[2])


def name(path):
    """A reader's name of a path: "Device / Firmware Version"."""
    o = OBJECTS.get(path[0]) if path else None
    if o is None:
        return ""
    if len(path) < 3:
        return o[0]
    r = o[1].get(path[2])
    return "%s / %s" % (o[0], r[0]) if r else o[0]


# -- paths -------------------------------------------------------------------------

ID_MAX = 65535
LEVELS = ("object", "instance", "resource", "resource-instance")


class PathError(ValueError):
    pass


def parse_path(text, min_len=1, max_len=4):
    """"/3/0/1" -> (3, 0, 1).  Each id 0..65535; `min_len`..`max_len` levels."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise PathError("a path is /object[/instance[/resource[/instance]]], e.g. /3/0/1: %r" % (text,))
    parts = text.strip("/").split("/") if text.strip("/") else []
    if not min_len <= len(parts) <= max_len:
        raise PathError("%s: %s wanted (%s)" % (
            text, "%d levels" % min_len if min_len == max_len else "%d to %d levels" % (min_len, max_len),
            "/" + "/".join(LEVELS[:max_len])))
    out = []
    for p in parts:
        if not p.isdigit() or len(p) > 5 or int(p) > ID_MAX:
            raise PathError("%s: %r is not an id (0..65535)" % (text, p))
        out.append(int(p))
    return tuple(out)


def path_text(path):
    return "/" + "/".join(str(p) for p in path)


def is_secret(path):
    """Values the simulator hides unless asked (--show-secrets): the Model Number
    /3/0/1 is the product token (spec section 3.5); /0/x/5 is a PSK (section 3.5,
    4.1.2), /0/x/8 an SMS key."""
    return (len(path) >= 3 and ((path[0] == 3 and path[2] == 1) or (path[0] == 0 and path[2] in (5, 8))))
