"""And-link LPWAN profile (China Mobile): an LwM2M 1.x client over CoAP for
NB-IoT.  Runs unchanged on MicroPython 1.2x and CPython 3.11; submodules are
imported on demand so a device only pays RAM for what it uses:

    coap          CoAP messages as bytes (RFC 7252), the option and
                  content-format numbers, the And-link transmission
                  parameters (And-link spec section 3.4), CoapError
    coapendpoint  the sans-I/O CoAP endpoint: bytes and time in, bytes and
                  events out (retransmission, duplicates, separate
                  responses, Observe notifications)
    coapblock     block-wise transfers (RFC 7959): Block2 download, Block1
                  upload, serving Block2 and receiving Block1
    lwm2m/        the LwM2M data model (its own map in lwm2m/__init__.py)
    client/       the sans-I/O LwM2M client over both: bootstrap, registration,
                  device management, observations and Send, FOTA (its map in
                  client/__init__.py)
"""

__version__ = "0.1.0"
