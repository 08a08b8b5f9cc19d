"""The wire layer: WMMP-T messages as bytes (appendices A, D, E, F, G).

    profile     interop profile: bearers, sizes, CRC and cipher choices
    header      the 28-byte header and the security byte (appendix A)
    tlv         TLV encode/decode (appendix E a)
    catalogue   every tag of appendix E, with validation
    commands    command IDs (appendix D) and fixed-part layouts (appendix G)
    codes       result, reason and operation codes (appendices E, G)
    codec       whole-message encode/decode with digest and encryption
    digest      E021 access digest and the security digests (PROTOCOL.md 3, 8)
    keys        session key unwrap (E040, PROTOCOL.md 5)
    subpacket   sub-packet split and reassembly (appendix F, PROTOCOL.md 6)
    crc         CRC16/CRC32 and the configuration CRC32 (PROTOCOL.md 7)

Imports only wmmp.errors and wmmp.crypto; knows nothing of terminals, modems
or boards.
"""
