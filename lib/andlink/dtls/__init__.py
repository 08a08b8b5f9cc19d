"""DTLS 1.2 with a pre-shared key for the And-link client (And-link spec
section 3.5: coaps on port 5684, TLS_PSK_WITH_AES_128_CCM_8 and
TLS_PSK_WITH_AES_128_CBC_SHA256, the identity usually the IMEI), sans-I/O and
in Python, so that it runs on every port and over any datagram link (the
BC95's AT sockets included), whatever the port's own `tls` offers:

    crypto    HMAC-SHA256, the TLS 1.2 PRF, AES-CCM-8, AES-CBC (the port's
              cryptolib where it has one)
    record    the record protection of both suites, key block, master
              secret, replay window (also the tests' scripted server's)
    session   Session: one client session, handshake, records, timers

docs/ANDLINK.md, "Security", has the decisions.
"""
