"""The And-link settings of a board (board.ANDLINK, a dict), checked and
completed with the defaults below.  Portable.

    s = settings.resolve(board.ANDLINK)      # ValueError names a bad key

Keys (all optional but one of server / bootstrap):
    server          "coap://IP:PORT" or "coaps://IP:PORT" the LwM2M server
                    (the And-link platform; section 4.1.3 hands out
                    addresses, not names; a host name on a SIM7600 board,
                    which resolves it); None: ask the Bootstrap-Server
                    first (4.1.1)
    bootstrap       "coap[s]://IP:PORT" the Bootstrap-Server (4.1.2)
    psk_identity    coaps: the PSK identity (default None: the IMEI, 3.5)
    psk_file        coaps: the file holding the device's pre-shared key in
                    hex, written at the factory (default None:
                    STATE_DIR/andlink.psk); board.andlink_psk() -> bytes,
                    when the board has it, is asked instead
    lifetime        registration lifetime, s (default 86400; 4.1.4 leaves it
                    to the maker)
    binding         "UQ" (default: queue mode, what an NB-IoT device in PSM
                    is) or "U"
    product_token   /3/0/1 Model Number = the developer portal's ProductToken
    device_type     /3/0/17 Device Type = its DeviceType (3.5: the platform
                    authenticates a plain-CoAP device by the pair)
    manufacturer, serial, hardware   /3/0/0, /3/0/2, /3/0/18 (None: absent)
    local_port      the module socket's local UDP port (default 5683)
    queue_window    s awake after an uplink in queue mode (None: the CoAP
                    MAX_TRANSMIT_WAIT, 93 s)
    sleep           what the runner does when the client sleeps (queue mode):
                    "psm" (default: nothing; the module enters PSM by itself
                    when its T3324 timer runs out, and the network holds
                    downlink until the next uplink), "off" (AT+CFUN=0: radio
                    off, attach again at the next uplink; for networks
                    without PSM), "none"
    psm_timers      (T3412, T3324) 8-bit timer strings (3GPP 24.008
                    10.5.7.4a / 10.5.7.3) asked for with AT+CPSMS=1 at each
                    module boot; None (default): the module's own settings
    radio_period    s between reads of the signal and cell while awake (300)
    restart_grace   s the runner waits for the client to be idle before a
                    restart (FOTA, Reboot) goes ahead anyway (10)
    coap            CoAP transmission parameters (andlink.coap.Params keyword
                    arguments) replacing section 3.4's defaults, e.g. for
                    tests; None: coap.ANDLINK
coaps:// (3.5's DTLS with a pre-shared key, port 5684) runs andlink.dtls
over the module's UDP sockets; coap:// is the non-encrypted access (5683),
which authenticates by product_token and device_type.
"""

from andlink.client import parse_uri

DEFAULTS = {"server": None, "bootstrap": None, "lifetime": 86400, "binding": "UQ", "product_token": None,
            "device_type": None, "manufacturer": None, "serial": None, "hardware": None, "local_port": 5683,
            "queue_window": None, "sleep": "psm", "psm_timers": None, "radio_period": 300,
            "restart_grace": 10, "coap": None, "psk_identity": None, "psk_file": None}
SLEEP = ("psm", "off", "none")


def is_ipv4(host):
    f = host.split(".")
    return len(f) == 4 and all(x.isdigit() and int(x) < 256 for x in f)


def peer(uri, key, ip_only=True):
    """(host, port) of a coap[s]://HOST:PORT setting; ValueError naming `key`."""
    try:
        scheme, host, port, segs, qs = parse_uri(uri)
    except ValueError as e:
        raise ValueError("ANDLINK %s %r: %s" % (key, uri, e))
    if scheme not in ("coap", "coaps"):
        raise ValueError("ANDLINK %s %r: coap:// or coaps:// only" % (key, uri))
    if segs or qs:
        raise ValueError("ANDLINK %s %r: no path or query" % (key, uri))
    if ip_only and not is_ipv4(host):
        raise ValueError("ANDLINK %s %r: an IPv4 address (the module resolves no names)" % (key, uri))
    return host, port


def _timer(t):
    return isinstance(t, str) and len(t) == 8 and not t.strip("01")


def resolve(factory, ip_only=True):
    """The settings with defaults, checked; adds "server_peer" and
    "bootstrap_peer" ((host, port) or None), "secure" (True when either is
    coaps://) and "params" (coap.Params)."""
    s = dict(DEFAULTS)
    for k in factory or {}:
        if k not in DEFAULTS:
            raise ValueError("ANDLINK: unknown setting %r" % (k,))
        s[k] = factory[k]
    s["server_peer"] = peer(s["server"], "server", ip_only) if s["server"] else None
    s["bootstrap_peer"] = peer(s["bootstrap"], "bootstrap", ip_only) if s["bootstrap"] else None
    if s["server_peer"] is None and s["bootstrap_peer"] is None:
        raise ValueError("ANDLINK: neither a server nor a bootstrap URI")
    s["server_secure"] = bool(s["server"]) and s["server"][:6].lower() == "coaps:"
    s["bootstrap_secure"] = bool(s["bootstrap"]) and s["bootstrap"][:6].lower() == "coaps:"
    s["secure"] = s["server_secure"] or s["bootstrap_secure"]
    for k in ("psk_identity", "psk_file"):
        v = s[k]
        if v is not None and (not isinstance(v, str) or not 0 < len(v) <= 128):
            raise ValueError("ANDLINK %s: 1 to 128 characters" % k)
    lt = s["lifetime"]
    if not isinstance(lt, int) or not 60 <= lt <= 0x7FFFFFFF:
        raise ValueError("ANDLINK lifetime %r: 60 to 2147483647 s" % (lt,))
    if s["binding"] not in ("U", "UQ"):
        raise ValueError("ANDLINK binding %r: U or UQ" % (s["binding"],))
    if s["sleep"] not in SLEEP:
        raise ValueError("ANDLINK sleep %r: one of %s" % (s["sleep"], ", ".join(SLEEP)))
    t = s["psm_timers"]
    if t is not None and (len(t) != 2 or not _timer(t[0]) or not _timer(t[1])):
        raise ValueError("ANDLINK psm_timers %r: two 8-bit strings such as ('00100010', '00000001')" % (t,))
    for k in ("product_token", "device_type", "manufacturer", "serial", "hardware"):
        v = s[k]
        if v is not None and (not isinstance(v, str) or not 0 < len(v) <= 64):
            raise ValueError("ANDLINK %s: 1 to 64 characters" % k)
    if not 0 < s["local_port"] < 65536:
        raise ValueError("ANDLINK local_port %r" % (s["local_port"],))
    from andlink import coap as C
    s["params"] = C.Params(**s["coap"]) if s["coap"] else C.ANDLINK
    return s


def psk_key(text, where):
    """The key of a PSK file's text (hex, blanks ignored); ValueError naming
    `where`, never the key."""
    h = "".join(text.split())
    try:
        from binascii import unhexlify
        key = unhexlify(h)
    except Exception:
        raise ValueError("%s: not hex digits" % where)
    if not 0 < len(key) <= 64:
        raise ValueError("%s: 1 to 64 bytes of key" % where)
    return key
