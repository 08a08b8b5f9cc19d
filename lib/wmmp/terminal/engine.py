"""The terminal protocol engine (sans-I/O): the core (wmmp.terminal.core) and
one module per flow of sections 4.3 and 4.4, put together in three tables.

It never opens a socket, reads a clock or sleeps.  Feed it:

    t.start(now)                     boot
    t.receive(data, bearer, now)     a whole message from a bearer
    t.tick(now)                      whenever now >= t.deadline()
    t.send_data(...), t.report(...), t.raise_alarm(...), t.logout(...)
    on a board with a data port (Config.data_port; wmmp.terminal.bridge, PROTOCOL.md 11):
    t.bridge_feed(data, now)         bytes read from the data port
    t.bridge_take(n) -> bytes        downlink data for the port (t.bridge_waiting() bytes wait)
    t.bridge_flush(now), t.bridge_busy(), t.bridge_counters(), t.data_port_settings()
    on a board with an updater (Config.stager; wmmp.terminal.upgrade, PROTOCOL.md 12):
    t.upgrade_data(trans_id, offset, data, now, etag=None)   bytes the board fetched (http)
    t.upgrade_fetch_failed(trans_id, now), t.upgrade_report(trans_id, reason, now)
    t.upgrade_state() -> dict or None

and drain:

    t.outgoing()  -> [(bearer, bytes)]   messages to send, in order
    t.events()    -> [(name, ...)]       what happened, for the application

How a flow plugs in: a flow is a module of plain functions whose first argument
is the terminal `t` (the shared context of core.Core).  It may have init(t) for
its own fields; the platform requests it answers go into HANDLERS (command ->
fn(t, msg, bearer, now)), its timers into TIMERS (name -> fn(t, now), armed
with t._timers[name] = due), and what the application or another flow calls
becomes a method of Terminal below (name = flow.function).  Flows never import
each other: they call each other through these methods.  Callbacks take the
terminal first too: on_ack(t, ack, now), on_fail(t, now), a LOGOUT's
then(t, now), a SIM job's done(t, result, error, now).
"""

from wmmp.wire import commands as C, header as H, profile as P
from wmmp.terminal import core
from wmmp.terminal import (registration, session, reporting, configuration, control, security,
                           sim, transparent, upgrade)
from wmmp.terminal.core import (S_OFF, S_REGISTERING, S_WAIT_KEYS, S_LOGGING_IN,  # noqa: F401
                                S_ONLINE, S_LOGGING_OUT, S_IDLE, S_BACKOFF, S_ALARM, S_RESTARTING,
                                STATE_NAMES, MISSED_HEARTBEATS, FALLBACK_AFTER)

class Config:
    """What the terminal knows of itself at boot.

    imei, imsi       from the module and SIM
    serial           16-byte serial, or its first 8 bytes to ask the platform for one
    software_version up to 8 ASCII bytes (LOGIN, 0x3004)
    platform_numbers SMS numbers WMMP SMS are accepted from (PROTOCOL.md 9)
    supports_encryption / session_key: security byte bit 0x80 / ask for E040 at login
    long_connection  keep the session with heartbeats (4.2.1)
    applies          parameter tags the runtime around the engine applies (the
                     board: APN, platform address...); CONFIG_SET of any other
                     tag the engine does not apply itself is refused "data
                     invalid" (4.3.9.3).  None: every stored parameter accepted
                     (tests and tools that drive the engine alone)
    outputs          peripheral IDs (0x4021) the board can switch; empty: refused
    controls         0x4001 codes among 0x00, 0x01, 0x02, 0x07, 0x09, 0x0C the
                     board carries out (the others the engine does alone); None:
                     all accepted and handed on as events (tests, tools)
    tcp              the packet bearer is TCP (0x4006)
    data_port        None: no data port (bridge off, 0x0101-0x0105 as any other
                     parameter the board does not apply).  Else what the
                     board's data UART can do (wmmp.terminal.bridge, PROTOCOL.md 11):
                     {"bauds": (...), "bits": (5, 6, 7, 8), "parity": ("N", "O", "E"),
                      "stop": (1, 2), "extra": {11: 230400}}  ("extra" optional:
                     maker baud indexes 11..254 of 0x0101)
    bridge_buffer, bridge_down  (optional, set as attributes by a board with a data
                     port) the bridge's uplink buffer (default 8192) and downlink
                     (port transmit) buffer (default 2048), bytes, preallocated once.
                     Not named here: every identifier of this module stays in RAM
                     on a terminal without a data port too.
    stager, upgrade_hold  (optional, set as attributes by a board with an updater)
                     where a download is staged (wmmp.terminal.upgrade: capacity,
                     begin, write, written, read, finish, abort, busy_reason; spill,
                     unspill, spill_reset to hold blocks in flash), and the bytes of
                     FILE_REQ_ACK blocks held ahead of a missing one (default: 3
                     windows in the stager's scratch file, else the rest of a window
                     in RAM), PROTOCOL.md 12.  Without a stager
                     DOWNLOAD_INFO is answered 0x03 and the updater not loaded.
    """

    def __init__(self, imei, imsi, serial=b"", software_version=b"WMMP0.1", platform_numbers=(),
                 supports_encryption=True, session_key=True, long_connection=True, sms_digest=False,
                 applies=None, outputs=(), controls=None, tcp=False, data_port=None):
        self.imei = imei
        self.imsi = imsi
        self.serial = H.pad_serial(serial)
        self.software_version = software_version
        self.platform_numbers = platform_numbers
        self.supports_encryption = supports_encryption
        self.session_key = session_key
        self.long_connection = long_connection
        self.sms_digest = sms_digest
        self.applies = applies
        self.outputs = outputs
        self.controls = controls
        self.tcp = tcp
        self.data_port = data_port


_FLOWS = (registration, session, reporting, configuration, security, transparent)   # with init(t)


class Terminal(core.Core):
    _bridge = None      # wmmp.terminal.bridge.Bridge on a board with a data port (init)

    # == the platform's requests, by command (appendix D) ======================
    HANDLERS = {
        C.CONFIG_GET: configuration.on_config_get,          # 4.3.6
        C.CONFIG_SET: configuration.on_config_set,          # 4.3.9.3
        C.REMOTE_CTRL: control.on_remote_ctrl,              # 4.3.7
        C.SECURITY_CONFIG: security.on_security_config,     # 4.3.10, 4.4.1-4.4.3
        C.LOGOUT: session.on_logout,                        # 4.3.3
        C.TRANSPARENT_DATA: transparent.on_data,            # 4.3.11
        C.TRANSPARENT_CMD: transparent.on_command,
        C.DOWNLOAD_INFO: upgrade.on_download_info,          # 4.3.8
    }

    # == timers, by name ==========================================================
    TIMERS = {
        "register": registration.register,          # back-off over: REGISTER again
        "sms_wait": registration.on_sms_wait,       # no first keys by SMS in time
        "login": session.login,                     # back-off over: LOGIN again
        "heartbeat": session.on_heartbeat,
        "short_idle": session.on_short_idle,
        "stats": reporting.on_stats,
        "session": security.on_session_expired,     # the session key ran out
        "sms_update": security.on_sms_update,       # no new secret by SMS in time
    }

    def __init__(self, config, params, profile=P.DEFAULT, rng=None, sim=None):
        core.Core.__init__(self, config, params, profile, rng, sim)
        for flow in _FLOWS:
            flow.init(self)
        if config.data_port is not None:
            # the serial data bridge (4.3.11), loaded only on a board with a
            # data port: a terminal without one does not carry its code
            from wmmp.terminal import bridge
            bridge.init(self)
        if getattr(config, "stager", None) is not None:
            # the updater (PROTOCOL.md 12), loaded only on a board with a stager
            from wmmp.terminal import download
            download.init(self)

    # == the application's and the runner's calls =================================
    start = registration.start
    logout = session.logout
    restarted = session.restarted
    report = reporting.report
    raise_alarm = reporting.raise_alarm
    clear_alarm = reporting.clear_alarm
    resend_alarms = reporting.resend_alarms
    report_statistics = reporting.report_statistics
    request_config = configuration.request_config
    local_config = configuration.local_config
    idle = configuration.idle
    security_request = security.security_request
    send_data = transparent.send_data
    control_done = control.control_done
    service_off = control.service_off

    def __getattr__(self, name):
        # the serial data bridge's calls (bridge_feed, ..., data_port_settings;
        # wmmp.terminal.bridge puts them on a terminal with a data port) on one
        # without: they answer None and do nothing
        # the updater's (upgrade_data, ..., upgrade_state; wmmp.terminal.download) likewise
        if name.startswith("bridge") or name.startswith("data_port") or name.startswith("upgrade"):
            return lambda *a: None
        raise AttributeError(name)

    # == calls between flows (and from the core) ================================
    boot_on = registration.boot_on
    register = registration.register
    keys_received = registration.keys_received
    login = session.login
    arm_heartbeat = session.arm_heartbeat
    stats_on = reporting.stats_on
    business_used = reporting.business_used
    arm_stats = reporting.arm_stats
    core_params = configuration.core_params
    fall_back = security.fall_back
    unwrap_session_key = security.unwrap_session_key
    sim_boot = sim.boot
    sim_config = sim.config
    sim_read = sim.read
