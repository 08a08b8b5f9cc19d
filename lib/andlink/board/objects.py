"""The object store of an And-link device on a board (And-link spec 5.2,
4.1.5; andlink.lwm2m.store): what the platform reads at registration and
after.  Portable.

    store = objects.build(s, ident, hooks)

/3/0 Device: 1 Model Number = product token, 17 Device Type (3.5), 0, 2,
     18 from the settings when set, 3 Firmware Version = the module's
     firmware (AT+CGMR, 4.1.5), 19 Software Version = the MCU's (the
     updater's running version, else the board's FIRMWARE), 4 Reboot ->
     hooks.reboot(), 9 Battery Level (%) from hooks.battery(), 10 Memory
     Free and 21 Memory Total (KB) from hooks.memory() -> (free, total)
     bytes, 11 Error Code {0: 0}, 16 the binding.
/4/0 Connectivity Monitoring: 0 and 1 bearer 7 (NB-IoT), 2 Radio Signal
     Strength (dBm), 4 IP address, 8 Cell ID, 12 TAC is not an OMA resource:
     only 2, 4 and 8, set by set_radio() from the module's readings.
/7/0 Connectivity Statistics: 2 Tx Data and 3 Rx Data (KB, what the link
     carried), 6 Start / 7 Stop (accepted, the counters always run).
/19/1 the parameter container (4.2.2): its 0 Data reads and writes
     hooks.params (a dict; hooks.on_params(dict) hears a Write).
/5 is the client's (andlink.client.fota: with a stager; a placeholder that
refuses a Package URI without one).  No /6 Location: the boards have no
GNSS (the platform's 4.1.5 reads do not include it).
"""

import json

from andlink.lwm2m.store import Store

NB_IOT = 7                      # /4/0/0 Network Bearer 7: NB-IoT (OMA LwM2M TS 1.0 E.4)


class Hooks:
    """What the store asks of the board (all optional but reboot)."""

    def __init__(self, reboot, battery=None, memory=None, on_params=None):
        self.reboot = reboot
        self.battery = battery
        self.memory = memory
        self.on_params = on_params
        self.params = {}
        self.tx = 0                 # bytes sent and received over the link (/7/0/2, /7/0/3)
        self.rx = 0


def _call(fn, *a):
    try:
        return fn(*a)
    except Exception:           # a board reading that fails is absent, not an error
        return None


def build(s, firmware, software, hooks, binding=None, stager=False):
    """A Store for settings `s` (andlink.board.settings), the module's
    `firmware` and the MCU's `software` version texts."""
    st = Store()
    dev = {3: firmware or "unknown", 11: {0: 0}, 16: binding or s["binding"], 19: software or "unknown"}
    for key, rid in (("manufacturer", 0), ("product_token", 1), ("serial", 2), ("hardware", 18),
                     ("device_type", 17)):
        if s[key] is not None:
            dev[rid] = s[key]
    st.add(3, 0, dev)
    st.bind(3, 4, execute=lambda iid, args: hooks.reboot())
    if hooks.battery is not None:
        st.bind(3, 9, read=lambda iid: _call(hooks.battery))
    if hooks.memory is not None:
        st.bind(3, 10, read=lambda iid: _kb(_call(hooks.memory), 0))
        st.bind(3, 21, read=lambda iid: _kb(_call(hooks.memory), 1))
    st.add(4, 0, {0: NB_IOT, 1: {0: NB_IOT}})
    if not stager:
        st.add(5, 0, {1: "", 3: 0, 5: 0, 9: 0})
        st.bind(5, 1, write=lambda iid, v: 0x85)        # no updater on this board: 4.05
    st.add(7, 0, {})
    st.bind(7, 2, read=lambda iid: hooks.tx // 1024)
    st.bind(7, 3, read=lambda iid: hooks.rx // 1024)
    st.bind(7, 6, execute=lambda iid, args: None)
    st.bind(7, 7, execute=lambda iid, args: None)
    st.add(19, 1)
    st.bind(19, 0, read=lambda iid, p: _params(hooks, p), write=lambda iid, v: _write_params(hooks, v))
    return st


def _kb(pair, i):
    if not pair or pair[i] is None:
        return None
    return int(pair[i]) // 1024


def _params(hooks, p):
    d = hooks.params
    if p is not None:
        d = {k: d[k] for k in d if k == p}
    return json.dumps(d)


def _write_params(hooks, v):
    try:
        d = json.loads(v)
    except ValueError:
        return 0x80                 # 4.00: not a JSON document
    if not isinstance(d, dict):
        return 0x80
    hooks.params.update(d)
    if hooks.on_params is not None:
        _call(hooks.on_params, d)
    return None


def set_radio(store, rssi_dbm=None, cell=None, ip=None):
    """The module's readings into /4/0 (observers of them are told by the
    store); None leaves a value as it is.  -> True when something changed."""
    changed = False
    for rid, v in ((2, rssi_dbm), (8, cell)):
        if v is not None:
            changed = store.set((4, 0, rid), int(v)) or changed
    if ip:
        changed = store.set((4, 0, 4), {0: ip}) or changed
    return changed


def memory():
    """(free, total) bytes of the MicroPython heap (gc.mem_free / mem_alloc);
    None on CPython."""
    import gc
    free = getattr(gc, "mem_free", None)
    if free is None:
        return None
    f = free()
    return f, f + gc.mem_alloc()
