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
    USB   the Pico's USB CDC = the REPL line = the service console (docs/CONSOLE.md)
The BC95 starts when powered (no PWRKEY); it is restarted with AT+NRB.
Sources:
  * UART0 on GP0 (TX) / GP1 (RX) is the RP2040's default UART (Pico SDK,
    setup_default_uart: "UART 0, with TX to pin GPIO 0, RX to pin GPIO 1"), as in
    raspberrypi/pico-micropython-examples uart/loopback/uart.py
    (UART(0, tx=Pin(0), rx=Pin(1))).
  * GP2 for RESET is this project's choice (no common Pico + BC95 board was
    found to copy); 9600 8N1 is the BC95's default (shared/spec/MODEMS.md).
  * The RP2040 watchdog cannot wait longer than 8.3 s: WATCHDOG_MS is 8000.
"""

MODEM = "bc95"

UART_ID = 0
UART_TX = 0
UART_RX = 1
UART_BAUD = 9600
RESET = 2
RESET_PULSE = 0.1         # s (the driver's default)

PRODUCTION = True         # False: development image (Ctrl-C reaches the REPL, no watchdog)
FACTORY_IMAGE = False     # True only in the factory image: the console accepts PROVISION
FIRMWARE = "WMMP-PICO-BC95 0.1"
STATE_DIR = "/state"
WATCHDOG_MS = 8000
WATCHDOG_FEED = 1
RADIO_PERIOD = 0          # signal/cell only before each login: no AT traffic while in PSM

# Factory settings (wmmp.board.settings); the platform's CONFIG_SET of 0x0002 (APN),
# 0x0007 (SMS number), 0x0009 (IP) and 0x000A (ports) overrides them.  The BC95
# needs an IP address (no name resolution).  The address below is a documentation
# address (RFC 5737): set the real platform's before building a production image.
SETTINGS = {
    "transport": "udp",
    "host": "203.0.113.5",
    "udp_port": 7301,
    "tcp_port": 7302,
    "apn": None,
    "platform_numbers": ["10658000"],
    "serial": b"M2MMAKER",
    "software_version": b"WMMP0.1",
}


def prepare():
    import machine
    machine.Pin(RESET, machine.Pin.OUT, value=0)


def modem_stream():
    from wmmp.board.uartstream import open_uart
    return open_uart(UART_ID, UART_BAUD, UART_TX, UART_RX)


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
