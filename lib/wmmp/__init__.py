"""WMMP-T terminal protocol package (China Mobile M2M, YD/T draft "M2M application
communication protocol").

Runs unchanged on MicroPython 1.2x and CPython 3.11.  Submodules are imported on
demand so a device only pays RAM for what it uses:

    errors      the package's exception types
    profile     interop profile (INTEROP.md "profile" items)
    header      28-byte header and the security byte (appendix A)
    tlv         TLV encode/decode (appendix E a)
    catalogue   every tag of appendix E, with validation
    commands    command IDs (appendix D) and fixed-part layouts (appendix G)
    codes       result/reason/operation codes (appendix G, E)
    codec       whole-message encode/decode with digest and encryption
    digest      E021 access digest and the security digests (INTEROP 3, 8)
    cipher      DES/3DES/AES-CBC (INTEROP 5), md5, des, aes: primitives
    subpacket   sub-packet split and reassembly (appendix F, INTEROP 6)
    crc         CRC16/CRC32 and the config CRC32 (INTEROP 7)
"""

__version__ = "0.1.0"
