"""Message encryption of WMMP (PROTOCOL.md 5): algorithm codes, key checks, DES/3DES/AES.

encrypt() / decrypt() use the interop profile's mode (CBC with a zero IV unless
the profile says otherwise, or ECB) and always PKCS#7 padding.  AES goes through
the port's `cryptolib` when it has one; everything else uses the pure-Python
block ciphers of wmmp.crypto.des and wmmp.crypto.aes, imported only when first needed.
"""

from micropython import const

from wmmp.errors import BadValue, DecryptError, Unsupported

try:
    import cryptolib
except ImportError:
    cryptolib = None

# Internal algorithm constants: equal to the E035 codes (PROTOCOL.md 5).
ALG_NONE = const(0)
ALG_DES = const(1)
ALG_3DES = const(2)
ALG_AES = const(3)
ALG_RSA = const(4)

TAG_E035 = const(0xE035)

_MODE_CBC = const(2)    # = profile.MODE_CBC = cryptolib's MODE_CBC
_MODE_ECB = const(1)    # = profile.MODE_ECB = cryptolib's MODE_ECB

_KEY_SIZES = {ALG_DES: (8,), ALG_3DES: (16, 24), ALG_AES: (16, 24, 32)}


def alg_from_e035(code, tag=TAG_E035):
    """Algorithm of an E035 code: 0 none, 1 DES, 2 3DES, 3 AES; 4 RSA is Unsupported."""
    if code == ALG_RSA:
        raise Unsupported("RSA is not supported (PROTOCOL.md 5)")
    if code in (ALG_NONE, ALG_DES, ALG_3DES, ALG_AES):
        return code
    raise BadValue("unknown E035 algorithm code", tag)


def alg_from_key_alg(code, tag=None):
    """Algorithm of an E039 / E03E code: 0 DES, 1 3DES, 2 AES; 3 RSA is Unsupported."""
    if code == 3:
        raise Unsupported("RSA is not supported (PROTOCOL.md 5)")
    if code in (0, 1, 2):
        return code + 1
    raise BadValue("unknown key algorithm code", tag)


def key_alg_code(alg):
    """The E039 / E03E code of an algorithm (0 DES, 1 3DES, 2 AES, 3 RSA)."""
    if alg in (ALG_DES, ALG_3DES, ALG_AES, ALG_RSA):
        return alg - 1
    raise BadValue("algorithm has no E039/E03E code")


def block_size(alg):
    """Cipher block size in bytes: 8 for DES/3DES, 16 for AES, 1 for none."""
    if alg == ALG_AES:
        return 16
    if alg == ALG_DES or alg == ALG_3DES:
        return 8
    if alg == ALG_NONE:
        return 1
    if alg == ALG_RSA:
        raise Unsupported("RSA is not supported (PROTOCOL.md 5)")
    raise BadValue("unknown algorithm")


def encrypted_length(alg, n):
    """Length of the ciphertext of n plaintext bytes (PKCS#7 always adds 1..bs bytes)."""
    if alg == ALG_NONE:
        return n
    bs = block_size(alg)
    return n + bs - n % bs


def _is_buffer(v):
    # isinstance(v, (bytes, bytearray, memoryview)) without building the tuple each call
    return isinstance(v, bytes) or isinstance(v, bytearray) or isinstance(v, memoryview)


def check_key(alg, key):
    """Raise unless `key` fits `alg`: DES 8 bytes, 3DES 16 (K3 = K1) or 24, AES 16/24/32.

    RSA raises Unsupported, an unknown algorithm BadValue.  ALG_NONE takes any key.
    """
    if alg == ALG_RSA:
        raise Unsupported("RSA is not supported (PROTOCOL.md 5)")
    if alg == ALG_NONE:
        return
    sizes = _KEY_SIZES.get(alg)
    if sizes is None:
        raise BadValue("unknown algorithm")
    if not _is_buffer(key):
        raise BadValue("key must be bytes")
    if len(key) not in sizes:
        raise BadValue("wrong key length for the algorithm")


def check_key_string(key, tag=None):
    """Key strings (E036 / E03B) are non-empty ASCII letters and digits (PROTOCOL.md 8).

    Accepts bytes-like or str; returns the key as bytes.
    """
    if isinstance(key, str):
        try:
            key = key.encode()
        except Exception:
            raise BadValue("key string must be ASCII", tag)
    elif isinstance(key, bytearray) or isinstance(key, memoryview):
        key = bytes(key)
    elif not isinstance(key, bytes):
        raise BadValue("key string must be bytes", tag)
    if not key:
        raise BadValue("empty key string", tag)
    for c in key:
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A):
            raise BadValue("key string must be ASCII letters and digits", tag)
    return key


# The last block cipher built, as [alg, key bytes, object]: the session key is
# used for every message, and a 3DES key schedule costs more than a short message.
_last = [None, None, None]


def _block_cipher(alg, key):
    key = bytes(key)
    if _last[0] == alg and _last[1] == key:
        return _last[2]
    if alg == ALG_AES:
        from wmmp.crypto.aes import Aes
        c = Aes(key)
    elif alg == ALG_DES:
        from wmmp.crypto.des import Des
        c = Des(key)
    else:
        from wmmp.crypto.des import TripleDes
        c = TripleDes(key)
    _last[0] = alg
    _last[1] = key
    _last[2] = c
    return c


def forget_keys():
    """Drop the cached key schedule (call when a session key expires or on logout)."""
    _last[0] = None
    _last[1] = None
    _last[2] = None


def _mode_iv(profile, bs):
    if profile is None:
        return _MODE_CBC, None          # the default profile: CBC with a zero IV
    mode = profile.cipher_mode
    if mode != _MODE_CBC and mode != _MODE_ECB:
        raise BadValue("unknown cipher mode in profile")
    iv = profile.iv
    if mode == _MODE_CBC and iv is not None:
        if not _is_buffer(iv) or len(iv) != bs:
            raise BadValue("profile IV must be one cipher block")
    else:
        iv = None
    return mode, iv


def _hw_aes(key, mode, iv):
    """A fresh cryptolib AES object, or None if the port has none or refuses the key."""
    if cryptolib is None:
        return None
    try:
        if mode == _MODE_ECB:
            return cryptolib.aes(key, _MODE_ECB)
        return cryptolib.aes(key, _MODE_CBC, iv if iv is not None else bytes(16))
    except Exception:   # e.g. a 24-byte key on a port that only does 128/256
        return None


def encrypt(alg, key, data, profile=None):
    """Encrypt `data` with PKCS#7 padding in the profile's mode; returns bytes.

    ALG_NONE returns `data` unchanged.  Bad key: BadValue; RSA: Unsupported.
    """
    if alg == ALG_NONE:
        return data
    check_key(alg, key)
    bs = 16 if alg == ALG_AES else 8
    mode, iv = _mode_iv(profile, bs)
    n = len(data)
    pad = bs - n % bs
    total = n + pad
    out = bytearray(total)
    out[0:n] = data
    for i in range(n, total):
        out[i] = pad
    if alg == ALG_AES:
        hw = _hw_aes(key, mode, iv)
        if hw is not None:
            hw.encrypt(out, out)
            return bytes(out)
    c = _block_cipher(alg, key)
    enc = c.encrypt_into
    if mode == _MODE_ECB:
        for off in range(0, total, bs):
            enc(out, off)
        return bytes(out)
    if iv is not None:
        for j in range(bs):
            out[j] ^= iv[j]
    enc(out, 0)
    for off in range(bs, total, bs):
        p = off - bs
        for j in range(off, off + bs):
            out[j] ^= out[p]
            p += 1
        enc(out, off)
    return bytes(out)


def decrypt(alg, key, data, profile=None):
    """Decrypt `data` in the profile's mode and strip PKCS#7 padding; returns bytes.

    DecryptError for empty input, a length that is not a whole number of blocks,
    or bad padding (every pad byte is checked).  ALG_NONE returns `data` unchanged.
    """
    if alg == ALG_NONE:
        return data
    check_key(alg, key)
    bs = 16 if alg == ALG_AES else 8
    mode, iv = _mode_iv(profile, bs)
    total = len(data)
    if total == 0 or total % bs:
        raise DecryptError("ciphertext length is not a whole number of blocks")
    out = bytearray(data)
    hw = _hw_aes(key, mode, iv) if alg == ALG_AES else None
    if hw is not None:
        hw.decrypt(out, out)
    else:
        c = _block_cipher(alg, key)
        dec = c.decrypt_into
        if mode == _MODE_ECB:
            for off in range(0, total, bs):
                dec(out, off)
        else:
            # Last block first: the block before is still ciphertext when needed.
            off = total - bs
            while off:
                dec(out, off)
                p = off - bs
                for j in range(off, off + bs):
                    out[j] ^= out[p]
                    p += 1
                off -= bs
            dec(out, 0)
            if iv is not None:
                for j in range(bs):
                    out[j] ^= iv[j]
    pad = out[total - 1]
    if pad < 1 or pad > bs:
        raise DecryptError("bad padding")
    for i in range(total - pad, total - 1):
        if out[i] != pad:
            raise DecryptError("bad padding")
    return bytes(memoryview(out)[0:total - pad])
