"""ESP32-DevKitC (ESP32-WROOM-32) wired to a SIMCom SIM7600 module: pins, UART and
the factory settings of this terminal.  Frozen as the module `board`
(manifest.py) and handed to wmmp.board.device.main by firmware/main.py; wmmp.board.device
documents every name used here.  `machine` is imported only inside functions.

Wiring (SIM7600 breakouts bring the module's 1.8 V UART to 3.3 V through a level
translator: check that yours does):
    GPIO17  UART2 TX  -> module RXD
    GPIO16  UART2 RX  <- module TXD
    GPIO4   PWRKEY, through the breakout's NPN transistor: high = key pressed
    GPIO25  FLIGHT: high = radio on
    GPIO34  STATUS (input only): high while the module is on (logged at start)
    GPIO33  UART1 TX  -> meter / POS RXD   the data port (serial data bridge,
    GPIO32  UART1 RX  <- meter / POS TXD   docs/PROTOCOL.md 11): 3.3 V logic; an RS-232 or
            RS-485 meter needs its transceiver (MAX3232, MAX3485) in between
    RESET   not wired: the driver restarts the module with AT+CRESET
    USB     the DevKitC's USB-UART bridge on UART0 = the REPL line = the service
            console (docs/CONSOLE.md)
Sources:
  * UART2 on GPIO16 (RX) / GPIO17 (TX) are the DevKitC's default UART2 pins; an
    ESP32 + SIMCom driver using them: nguyenhuy5997/vTag_3.0.3z,
    main/simcom7070/7070_config.h (UART 2, TXD 17, RXD 16, 115200).
  * PWRKEY on GPIO4 pressed high for 300 ms, FLIGHT on GPIO25 held high, STATUS
    on GPIO34: LilyGO's ESP32 + SIM7600 board, Xinyuan-LilyGO/T-SIM7600X,
    examples/AllFunctions/utilities.h and AllFunctions.ino ("MODEM_PWRKEY IO:4",
    "MODEM_FLIGHT IO:25 ... this pin must be set to high", "MODEM_STATUS 34").
    That board puts the UART on GPIO27/26 instead: change UART_TX/UART_RX for it.
  * 115200 8N1 is the SIM7600's default (SIMCom's hardware design manual).
  * The data port on UART1 with TX on GPIO33, RX on GPIO32: MicroPython's ESP32
    quick reference, docs/esp32/quickref.rst, "UART (serial bus)":
    uart1 = UART(1, baudrate=9600, tx=33, rx=32).  UART1's default pins
    (TX GPIO10, RX GPIO9, same table) are the WROOM-32's SPI flash lines
    (GPIO6-11, Espressif's ESP32-WROOM-32 datasheet): unusable.  GPIO32/33 are
    neither flash, strapping (0, 2, 5, 12, 15) nor input-only (34-39) pins, the
    console is UART0 (GPIO1/3) and the module UART2 (GPIO16/17); the WROOM-32
    fits no 32 kHz crystal on them.  9600 8N1 is 0x0101 index 0 (docs/PROTOCOL.md 8).
"""

MODEM = "sim7600"

UART_ID = 2
UART_TX = 17
UART_RX = 16
UART_BAUD = 115200
PWRKEY = 4
PWRKEY_PULSE = 0.5        # s; LilyGO presses 300 ms, the driver's default is 500 ms
FLIGHT = 25
STATUS = 34

# The data port (serial data bridge, docs/PROTOCOL.md 11; wmmp.board.device, dataport):
# UART1 on GPIO33 (TX) / GPIO32 (RX), 9600 8N1 until 0x0101-0x0105 say otherwise.
DATA_UART_ID = 1
DATA_TX = 33
DATA_RX = 32
DATA_BAUD = 9600
DATA_RXBUF = 4096         # bytes: 355 ms at 115200 while the loop is busy elsewhere
# What it can do (machine.UART on the ESP32: 5-8 data bits, parity none / odd /
# even, 1 or 2 stop bits; the engine refuses the rest "data invalid"): 0x0101
# index 1-10 and maker index 11 = 230400.
DATA_PORT = {"bauds": (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400),
             "bits": (5, 6, 7, 8), "parity": ("N", "O", "E"), "stop": (1, 2),
             "extra": {11: 230400}}
BRIDGE_BUFFER = 8192      # uplink frames kept across an outage, bytes (RAM)
BRIDGE_DOWN = 2048        # downlink bytes waiting for the port

PRODUCTION = True         # False: development image (Ctrl-C reaches the REPL, no watchdog)
FACTORY_IMAGE = False     # True only in the factory image: the console accepts PROVISION
FIRMWARE = "WMMP-ESP32-SIM7600 0.1"
STATE_DIR = "/state"
WATCHDOG_MS = 30000       # machine.WDT timeout; fed every WATCHDOG_FEED s by the device
WATCHDOG_FEED = 1

# Peripheral outputs the platform may switch (REMOTE_CTRL 0x4021): {id: GPIO},
# driven high = on, low at start.  None wired on a bare DevKitC: {} (0x4021 is
# refused).  E.g. a relay driver on GPIO26: {0x0001: 26}.
OUTPUTS = {}

# Protocols (wmmp.board.device): ("wmmp",) as shipped; ("andlink",) or ("wmmp", "andlink")
# run China Mobile's And-link LwM2M profile (lib/andlink/board, frozen: manifest.py) over
# the module's UDP link 2 (andlink.board.sim7600link), beside WMMP's link 0.  README.md,
# "Protocols" (RAM: And-link alone fits; both at once: measure first).
PROTOCOLS = ("wmmp",)

# And-link settings (andlink.board.settings; boards/README.md "And-link").  The SIM7600
# resolves names (AT+CDNSGIP): a server or bootstrap URI may name a host; ANDLINK_FALLBACK
# gives the address used when the name does not resolve (And-link spec 4.1.2: the domain
# name first, then the IP address).  sleep / psm_timers do not apply (LTE: no PSM here).
ANDLINK = {
    "bootstrap": "coap://112.13.96.174:5683",
    "server": None,             # "coap://HOST:5683" to register without bootstrapping
    # DTLS (3.5): "coaps://112.13.96.174:5684" above, and the device's key in hex in
    # /state/andlink.psk (written at the factory); "psk_identity": None is the IMEI
    "product_token": None,      # the portal's ProductToken
    "device_type": None,        # the portal's DeviceType
    "lifetime": 86400,
    "binding": "UQ",            # the platform holds requests until the next uplink: a carrier
                                # NAT may forget the address between uplinks ("U": always reachable)
}
ANDLINK_FALLBACK = {}           # {"bootstrap.host.name": "a.b.c.d"}

# Factory settings (wmmp.board.settings); the platform's CONFIG_SET overrides
# them: 0x0002 (APN), 0x0013 (application APN), 0x0003/0x0004 (APN user and
# password, AT+CGAUTH), 0x0005 (SMS centre, AT+CSCA), 0x0007 (SMS number),
# 0x0008 (platform URL, resolved by the module) / 0x0009 (IP), 0x000A (ports),
# 0x0010/0x0014 (DNS, AT+CDNSCFG).  The address below is a documentation
# address (RFC 5737): set the real platform's before building a production image.
SETTINGS = {
    "transport": "udp",
    "host": "203.0.113.5",
    "udp_port": 7301,
    "tcp_port": 7302,
    "apn": "cmnet",
    "app_apn": None,            # the application's APN (0x0013): REMOTE_CTRL 0x4001 0x0C
                                # switches to it; None: 0x0C is refused
    "apn_user": None,           # PDP authentication (PAP), None: none
    "apn_password": None,
    "dns": (),                  # DNS servers ("a.b.c.d", ...), (): the network's
    "smsc": None,               # SMS centre number, None: the SIM's
    "platform_numbers": ["10658000"],
    "serial": b"M2MMAKER",
    "software_version": b"WMMP0.1",
    "long_connection": True,    # False: short connection, log out when idle (4.2.1)
}

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
    machine.Pin(FLIGHT, machine.Pin.OUT, value=1)


def modem_stream():
    from wmmp.board.uartstream import open_uart
    return open_uart(UART_ID, UART_BAUD, UART_TX, UART_RX)


def data_stream():
    from wmmp.board.uartstream import open_uart
    return open_uart(DATA_UART_ID, DATA_BAUD, DATA_TX, DATA_RX, rxbuf=DATA_RXBUF,
                     caps=DATA_PORT, rxidle=True)


def modem_power():
    import machine
    return machine.Pin(PWRKEY, machine.Pin.OUT, value=0), 1, PWRKEY_PULSE


def modem_status():
    import machine
    return machine.Pin(STATUS, machine.Pin.IN).value()


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
SIGNAL_ALARM_PERCENT = 20     # 0x3007 under 20 % (about +CSQ 6, -101 dBm): 0x000B weak signal
SIGNAL_HYSTERESIS = 5         # normal again from 25 %
SUPPLY_ALARM_MV = None        # a DevKitC has no supply divider: no supply_mv(), no 0x0008
ALARM_HOLD = 60               # s
STATUS_LED = 2                # GPIO2, high = lit: the blue LED of the common DevKit boards
                              # (DOIT ESP32 DevKit V1 and clones); Espressif's DevKitC V4
                              # has only a power LED: fit an LED + 1 kohm from GPIO2 to GND
                              # (GPIO2 is a boot strap that must be low or open: an LED to
                              # GND keeps it so)
STATUS_TIMER = 0              # hardware timer 0 blinks it
_led = [None, None, 0]        # pin, timer, level


def status_led(state):
    """The status LED (wmmp.board.alarms calls this on each change only): "off"
    dark, "registering" slow blink (1 Hz), "online" steady, "alarm" fast blink
    (4 Hz).  The monitor is sans-I/O: machine.Timer STATUS_TIMER does the blinking."""
    import machine
    if _led[0] is None:
        _led[0] = machine.Pin(STATUS_LED, machine.Pin.OUT, value=0)
        _led[1] = machine.Timer(STATUS_TIMER)
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
# The firmware image goes to the next OTA partition; the bootloader rolls it back
# unless it logs in within OTA_HEALTH_S and confirms itself.  Needs a build with
# OTA partitions and rollback (BOARD_VARIANT=OTA): on a build without them
# ota_stager() returns None and DOWNLOAD_INFO is answered "not supported".
OTA_HEALTH_S = 300
OTA_DIR = "/state/ota"        # the resume record


def ota_stager():
    from wmmp.board import otaesp32 as ota
    from wmmp.board.fsio import OsFS
    try:
        parts = ota.EspPartitions()
        parts.next_update()
    except Exception:
        return None
    return ota.Esp32Stager(parts, OsFS(), OTA_DIR, "esp32_sim7600", log=log)
