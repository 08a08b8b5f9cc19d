"""Raspberry Pi Pico (RP2040) wired to a Quectel BC95 / BC95-G NB-IoT module: pins,
UART and the factory settings of this terminal.  Frozen as the module `board`
(manifest.py) and handed to wmmp.board.device.main by firmware/main.py; wmmp.board.device
documents every name used here.  `machine` is imported only inside functions.

Wiring (the BC95's UART runs at 3.0 V: use a module board with a level
translator, or one rated for 3.3 V logic):
    GP0   UART0 TX  -> module RXD
    GP1   UART0 RX  <- module TXD
    GP2   RESET, through an NPN transistor pulling the module's RESET low:
          high = reset asserted; pulsed only when the module does not answer AT
    GP8   UART1 TX  -> meter / POS RXD   the data port (serial data bridge,
    GP9   UART1 RX  <- meter / POS TXD   docs/PROTOCOL.md 11): 3.3 V logic; an RS-232 or
          RS-485 meter needs its transceiver (MAX3232, MAX3485) in between
    USB   the Pico's USB CDC = the REPL line = the service console (docs/CONSOLE.md)
The BC95 starts when powered (no PWRKEY); it is restarted with AT+NRB.
Sources:
  * UART0 on GP0 (TX) / GP1 (RX) is the RP2040's default UART (Pico SDK,
    setup_default_uart: "UART 0, with TX to pin GPIO 0, RX to pin GPIO 1"), as in
    raspberrypi/pico-micropython-examples uart/loopback/uart.py
    (UART(0, tx=Pin(0), rx=Pin(1))).
  * The data port on UART1 with TX on GP8, RX on GP9: the same example,
    uart/loopback/uart.py (UART(1, baudrate=9600, tx=Pin(8), rx=Pin(9))); UART1
    is free (the module has UART0, the console is USB), GP8/GP9 clash with no
    pin here, and the Pico's flash is on dedicated QSPI pins, not GPIOs.  9600
    8N1 is 0x0101 index 0 (docs/PROTOCOL.md 8).
  * GP2 for RESET is this project's choice (no common Pico + BC95 board was
    found to copy); 9600 8N1 is the BC95's default (Quectel's hardware design manual).
  * The RP2040 watchdog cannot wait longer than 8.3 s: WATCHDOG_MS is 8000.
"""

MODEM = "bc95"

UART_ID = 0
UART_TX = 0
UART_RX = 1
UART_BAUD = 9600
RESET = 2
RESET_PULSE = 0.1         # s (the driver's default)

# The data port (serial data bridge, docs/PROTOCOL.md 11; wmmp.board.device, dataport):
# UART1 on GP8 (TX) / GP9 (RX), 9600 8N1 until 0x0101-0x0105 say otherwise.
DATA_UART_ID = 1
DATA_TX = 8
DATA_RX = 9
DATA_BAUD = 9600
DATA_RXBUF = 2048         # bytes: 178 ms at 115200 while the loop is busy elsewhere
# What it can do (machine.UART on the RP2040: 5-8 data bits, parity none / odd /
# even, 1 or 2 stop bits; the engine refuses the rest "data invalid"): 0x0101
# index 1-10 and maker index 11 = 230400.  The NB-IoT link carries far less than
# the fast rates: bursts wait in the bridge buffer.
DATA_PORT = {"bauds": (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400),
             "bits": (5, 6, 7, 8), "parity": ("N", "O", "E"), "stop": (1, 2),
             "extra": {11: 230400}}
BRIDGE_BUFFER = 8192      # uplink frames kept across an outage, bytes (RAM)
BRIDGE_DOWN = 2048        # downlink bytes waiting for the port

PRODUCTION = True         # False: development image (Ctrl-C reaches the REPL, no watchdog)
FACTORY_IMAGE = False     # True only in the factory image: the console accepts PROVISION
FIRMWARE = "WMMP-PICO-BC95 0.1"
STATE_DIR = "/state"
WATCHDOG_MS = 8000
WATCHDOG_FEED = 1
RADIO_PERIOD = 0          # signal/cell only before each login: no AT traffic while in PSM

# Peripheral outputs the platform may switch (REMOTE_CTRL 0x4021): {id: GP pin},
# driven high = on, low at start.  None wired: {} (0x4021 is refused).  E.g. a
# relay driver on GP15: {0x0001: 15}.
OUTPUTS = {}

# Factory settings (wmmp.board.settings); the platform's CONFIG_SET overrides
# them: 0x0002 (APN), 0x0013 (application APN), 0x0005 (SMS centre, AT+CSCA,
# when the network offers SMS), 0x0007 (SMS number), 0x0009 (IP), 0x000A
# (ports).  The BC95 needs an IP address (no name resolution, so no platform URL
# 0x0008 nor DNS 0x0010/0x0014) and takes no PDP authentication (0x0003/0x0004):
# the platform's CONFIG_SET of those is refused.  The address below is a
# documentation address (RFC 5737): set the real platform's before building a
# production image.
SETTINGS = {
    "transport": "udp",
    "host": "203.0.113.5",
    "udp_port": 7301,
    "tcp_port": 7302,
    "apn": None,
    "app_apn": None,            # the application's APN (0x0013): REMOTE_CTRL 0x4001 0x0C
                                # switches to it; None: 0x0C is refused
    "smsc": None,               # SMS centre number, None: the SIM's
    "platform_numbers": ["10658000"],
    "serial": b"M2MMAKER",
    "software_version": b"WMMP0.1",
    "long_connection": True,    # False: short connection, log out when idle (4.2.1):
                                # fewer heartbeats, longer power saving
}

# Protocols (wmmp.board.device): ("wmmp",) the WMMP terminal (the default), ("andlink",)
# China Mobile's And-link LwM2M profile for NB-IoT instead (lib/andlink/board), or both on
# the one module (two UDP sockets, one IMEI).  README.md, "And-link", says what each runs.
PROTOCOLS = ("wmmp",)

# And-link settings (andlink.board.settings documents every key and its default).  Plain
# CoAP on 5683 authenticated by the developer portal's ProductToken (/3/0/1) and
# DeviceType (/3/0/17) (And-link spec 3.5): set both before building.  Addresses only (the
# BC95 resolves no names): the Bootstrap-Server below is the spec's own (4.1.2, its
# address form), which hands out the server's address (4.1.3).  Queue mode (UQ) with the
# module in PSM between uplinks; "lifetime" sets how often the device must speak at least.
ANDLINK = {
    "bootstrap": "coap://112.13.96.174:5683",
    "server": None,             # "coap://IP:5683" to register without bootstrapping
    # DTLS (3.5): "coaps://112.13.96.174:5684" above, and the device's key in hex in
    # /state/andlink.psk (written at the factory); "psk_identity": None is the IMEI
    "product_token": None,      # the portal's ProductToken
    "device_type": None,        # the portal's DeviceType
    "lifetime": 86400,
    "binding": "UQ",
    "sleep": "psm",             # "off": AT+CFUN=0 while asleep, for networks without PSM
    "psm_timers": None,         # e.g. ("00100110", "00000001"): T3412 6 h, T3324 2 s, asked with AT+CPSMS
}
BATTERY_MV = (3300, 4200)     # /3/0/9 battery level: VSYS (supply_mv) from 3.3 V = 0 % to 4.2 V = 100 %

# Optional application hooks (wmmp.board.device): on_service(on) hears the
# platform suspend (False) / resume (True) the application (0x4001 0x00/0x01;
# the state is kept across restarts), on_upload() sends the application's
# buffered data at once (0x4001 0x07).  This board has no application yet: no
# on_upload, so 0x07 sends what the data port's bridge holds (its open frame
# and the buffered frames); on_service only logs.


def on_service(on):
    log("application %s by the platform" % ("resumed" if on else "suspended"))


def prepare():
    import machine
    machine.Pin(RESET, machine.Pin.OUT, value=0)


def modem_stream():
    from wmmp.board.uartstream import open_uart
    return open_uart(UART_ID, UART_BAUD, UART_TX, UART_RX)


def data_stream():
    from wmmp.board.uartstream import open_uart
    return open_uart(DATA_UART_ID, DATA_BAUD, DATA_TX, DATA_RX, rxbuf=DATA_RXBUF,
                     caps=DATA_PORT, rxidle=True)


def modem_power():
    import machine
    return machine.Pin(RESET, machine.Pin.OUT, value=0), 1, RESET_PULSE


def console_stream():
    from wmmp.board.uartstream import stdio_console
    return stdio_console()


def factory_switch():
    return FACTORY_IMAGE


def watchdog():
    if not PRODUCTION:
        return None
    import machine
    return machine.WDT(timeout=WATCHDOG_MS)


def reset():
    import machine
    machine.reset()


def log(text):
    print("# " + text)


# == alarms and the status LED (wmmp.board.alarms; 4.3.5, appendix E e) ==========
# Read by the device's alarm monitor: a source must stay ALARM_HOLD s in its new
# state before its alarm is raised (0x300D) or cleared (0x300E).
SIGNAL_ALARM_PERCENT = 10     # 0x3007 under 10 % (about +CSQ 3, -107 dBm; NB-IoT reaches
                              # deeper than that with coverage enhancement): 0x000B
SIGNAL_HYSTERESIS = 5         # normal again from 15 %
SUPPLY_ADC = 29               # GP29 = ADC3: VSYS / 3 through the Pico's own divider
SUPPLY_ALARM_MV = 3300        # VSYS under 3.3 V: 0x0008 power supply fault (see supply_mv)
SUPPLY_HYSTERESIS_MV = 100    # normal again from 3.4 V
ALARM_HOLD = 60               # s
STATUS_LED = 25               # GP25: the Pico's onboard green LED, high = lit (a Pico W
                              # has it on the wireless chip: Pin("LED") there)
_led = [None, None, 0]        # pin, timer, level


def supply_mv():
    """VSYS in mV for alarm 0x0008.  Wiring assumed: the Pico and the BC95 module
    board are both powered through VSYS (USB through the Pico's diode, about
    4.7 V, or a Li-ion cell on VSYS); a module board fed straight from the cell
    stops under the BC95's VBAT minimum (3.1 V in Quectel's hardware design: check
    your module board's), hence 3.3 V.  ADC3 (GP29) reads VSYS / 3 through the
    Pico's divider against the 3.3 V reference; mean of 4 samples."""
    import machine
    adc = machine.ADC(SUPPLY_ADC)
    n = 0
    for _ in range(4):
        n += adc.read_u16()
    return n * 3 * 3300 // (4 * 65535)


def status_led(state):
    """The status LED (wmmp.board.alarms calls this on each change only): "off"
    dark, "registering" slow blink (1 Hz), "online" steady, "alarm" fast blink
    (4 Hz).  The monitor is sans-I/O: a virtual machine.Timer does the blinking."""
    import machine
    if _led[0] is None:
        _led[0] = machine.Pin(STATUS_LED, machine.Pin.OUT, value=0)
        _led[1] = machine.Timer()
    half = 500 if state == "registering" else 125 if state == "alarm" else 0
    if half:
        _led[1].init(period=half, mode=machine.Timer.PERIODIC, callback=_blink)
        return
    _led[1].deinit()
    _led[2] = 1 if state == "online" else 0
    _led[0].value(_led[2])


def _blink(timer):
    _led[2] ^= 1
    _led[0].value(_led[2])


# == software updates (wmmp.board.ota, docs/UPDATE.md) ============================
# The frozen firmware is the golden image.  An update replaces top-level modules
# (the application, `board`) as .mpy files in a slot under OTA_DIR that
# firmware/main.py puts first on sys.path; an unconfirmed one (no login within
# OTA_HEALTH_S, a crash, the watchdog) is rolled back to the previous slot or
# to the frozen stack.  The wmmp package itself cannot be replaced this way.
OTA_HEALTH_S = 300
OTA_DIR = "/ota"
OTA_CAPACITY = 96 * 1024      # bytes of littlefs an update file may take


def ota_stager():
    from wmmp.board import ota
    from wmmp.board.fsio import OsFS
    st = ota.AppStager(OsFS(), OTA_DIR, "pico_bc95", capacity=OTA_CAPACITY, log=log)
    if _booted:                   # counted by ota_boot() at this start
        st.booted = _booted.pop()
    return st


_booted = []


def ota_boot():
    """firmware/main.py, before anything else is imported: the trial counted (or
    rolled back) once, and the slot directory to put first on sys.path (None:
    the frozen stack)."""
    st = ota_stager()
    _booted.append(st.boot())
    return st.path()
