"""Cryptographic primitives, pure Python where a port has no native ones.

    md5         RFC 1321 (hashlib when present)
    des         DES and 3DES block ciphers
    aes         AES block cipher (no 4 KB T-tables)
    cipher      DES/3DES/AES in CBC/ECB with the padding of PROTOCOL.md 5;
                cryptolib when the port has it

Imports only wmmp.errors and wmmp.wire.profile (cipher choices).
"""
