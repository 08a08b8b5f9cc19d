"""WMMP-T terminal protocol package (China Mobile M2M, YD/T draft "M2M application
communication protocol"); the map is lib/wmmp/README.md.

Runs unchanged on MicroPython 1.2x and CPython 3.11.  One folder per layer,
imports only run downward; submodules are imported on demand so a device
only pays RAM for what it uses:

    board/      the terminal's life on a device: device, runner, store, console
    modem/      AT engine and parser, SMS PDU, the SIM7600 and BC95 drivers
    terminal/   the sans-I/O protocol engine: core + one module per flow
    wire/       messages as bytes: header, TLV, catalogue, codec, digest, keys
    crypto/     MD5, DES, AES and the cipher modes
    errors      the package's exception types (every layer)
"""

__version__ = "0.1.0"
