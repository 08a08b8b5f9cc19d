"""Fresh secrets for terminals (4.4.3: the platform generates access passwords,
base keys and session keys) and the algorithm names the operator uses.

Passwords E025/E028: 8 characters, ASCII letters and digits (a subset of the
"visible ASCII" PROTOCOL.md 8 allows).  Key strings E036/E03B: ASCII letters and digits,
as long as the algorithm needs (PROTOCOL.md 5: DES 8, 3DES 16 = K1||K2, AES 16/24/32).
"""

import secrets
import string

from wmmp.crypto import cipher as CI

ALPHABET = string.ascii_letters + string.digits

# E039 / E03E codes (PROTOCOL.md 5: 0 DES, 1 3DES, 2 AES; 3 RSA is not supported).
KEY_ALG_CODES = {"des": 0x00, "3des": 0x01, "aes": 0x02}
KEY_ALG_NAMES = {v: k for k, v in KEY_ALG_CODES.items()}
DEFAULT_KEY_LENGTH = {0x00: 8, 0x01: 16, 0x02: 16}
VALID_KEY_LENGTHS = {0x00: (8,), 0x01: (16, 24), 0x02: (16, 24, 32)}


def random_text(n):
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def password():
    """A new access password (E025 / E028)."""
    return random_text(8)


def key_for(alg_code, length=None):
    """A new key string for an E039/E03E algorithm code."""
    n = length or DEFAULT_KEY_LENGTH[alg_code]
    if n not in VALID_KEY_LENGTHS[alg_code]:
        raise ValueError("a %s key is %s characters, not %d" % (
            KEY_ALG_NAMES[alg_code], " or ".join(map(str, VALID_KEY_LENGTHS[alg_code])), n))
    return random_text(n)


def alg_code(name):
    """E039/E03E code from "des", "3des", "aes" or a number."""
    if isinstance(name, int):
        code = name
    else:
        text = str(name).strip().lower()
        if text in KEY_ALG_CODES:
            return KEY_ALG_CODES[text]
        try:
            code = int(text, 0)
        except ValueError:
            raise ValueError("unknown algorithm %r (des, 3des, aes)" % name)
    if code not in KEY_ALG_NAMES:
        raise ValueError("algorithm code %r is not DES/3DES/AES (RSA unsupported, PROTOCOL.md 5)" % name)
    return code


def cipher_alg(code):
    """wmmp.crypto.cipher algorithm of an E039/E03E code."""
    return CI.alg_from_key_alg(code)


def alg_name(code):
    return KEY_ALG_NAMES.get(code, "0x%02X" % code if code is not None else "-")
