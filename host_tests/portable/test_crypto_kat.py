"""Known-answer tests of wmmp.crypto.md5, wmmp.crypto.des, wmmp.crypto.aes and wmmp.crypto.cipher (PROTOCOL.md 5, 8).

Portable: runs under pytest on CPython and under MicroPython.  Every vector
names the publication it comes from; none is computed by the code under test.
"""

from binascii import unhexlify

from wmmp.crypto import aes, cipher, des, md5
from wmmp.errors import BadValue, DecryptError, Unsupported, WmmpError
from wmmp.wire.profile import MODE_CBC, MODE_ECB, Profile


def h(s):
    return unhexlify(s.replace(" ", ""))


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return True
    except WmmpError:
        return False
    return False


# ---------------------------------------------------------------- MD5

# RFC 1321, appendix A.5 "Test suite": all seven messages.
RFC1321_A5 = (
    (b"", "d41d8cd98f00b204e9800998ecf8427e"),
    (b"a", "0cc175b9c0f1b6a831c399e269772661"),
    (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
    (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "d174ab98d277d9f5a5611c2c9f419d9f"),
    (b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "57edf4a22be3c955ac49da2e2107b67a"),
)


def test_md5_rfc1321_suite_pure():
    # RFC 1321 A.5, through the pure-Python implementation.
    for msg, want in RFC1321_A5:
        assert md5.PureMd5(msg).digest() == h(want), msg


def test_md5_rfc1321_suite_new_and_md5():
    # RFC 1321 A.5, through new() (hashlib.md5 where the port has it) and md5().
    for msg, want in RFC1321_A5:
        assert md5.md5(msg) == h(want), msg
        x = md5.new()
        x.update(msg)
        assert x.digest() == h(want)
        assert md5.new(msg).digest() == h(want)


def test_md5_pure_uneven_chunks():
    # RFC 1321 A.5 vectors fed in uneven pieces: the partial-block buffer must
    # join pieces across 64-byte boundaries (the 80-byte message spans two blocks).
    chunkings = ((1,), (3, 7), (63, 1, 2), (64, 15), (5, 59, 16), (17, 50, 13))
    for msg, want in RFC1321_A5:
        mv = memoryview(msg)
        for sizes in chunkings:
            x = md5.PureMd5()
            i = 0
            k = 0
            while i < len(msg):
                n = sizes[k % len(sizes)]
                x.update(mv[i:i + n])
                i += n
                k += 1
            assert x.digest() == h(want), (msg, sizes)


def test_md5_pure_buffer_types_and_repeat_digest():
    # RFC 1321 A.5, last message, as bytearray and memoryview pieces; digest()
    # does not disturb the state, so hashing can continue afterwards.
    msg = RFC1321_A5[6][0]
    x = md5.PureMd5()
    x.update(bytearray(msg[:30]))
    assert x.digest() == x.digest()
    x.update(memoryview(msg)[30:70])
    x.update(b"")
    x.update(memoryview(bytearray(msg))[70:])
    assert x.digest() == h(RFC1321_A5[6][1])
    y = md5.PureMd5(b"abc")
    assert y.digest() == h(RFC1321_A5[2][1])
    y.update(b"")
    assert y.digest() == h(RFC1321_A5[2][1])


# ---------------------------------------------------------------- DES

def test_des_fips81_ecb():
    # FIPS 81, appendix B, table B1 (ECB): key 0123456789ABCDEF,
    # plaintext "Now is the time for all ".
    d = des.Des(h("0123456789abcdef"))
    pt = b"Now is the time for all "
    ct = h("3fa40e8a984d4815 6a271787ab8883f9 893d51ec4b563b53")
    for i in range(0, 24, 8):
        assert d.encrypt_block(pt[i:i + 8]) == ct[i:i + 8]
        assert d.decrypt_block(ct[i:i + 8]) == pt[i:i + 8]


def test_des_fips81_cbc():
    # FIPS 81, appendix C, table C1 (CBC): same key and text, IV 1234567890ABCDEF.
    # FIPS 81 has no padding: the first three blocks of our PKCS#7 output must match.
    p = Profile(iv=h("1234567890abcdef"))
    key = h("0123456789abcdef")
    pt = b"Now is the time for all "
    want = h("e5c7cdde872bf27c 43e934008c389c0f 683788499a7c05f6")
    ct = cipher.encrypt(cipher.ALG_DES, key, pt, p)
    assert len(ct) == 32
    assert ct[:24] == want
    assert cipher.decrypt(cipher.ALG_DES, key, ct, p) == pt


# NIST SP 800-20, appendix A (the same values as SP 800-17 appendix A).
# Table A.1, variable plaintext KAT, key 0101010101010101.
SP800_20_A1 = (
    ("8000000000000000", "95f8a5e5dd31d900"),
    ("4000000000000000", "dd7f121ca5015619"),
    ("2000000000000000", "2e8653104f3834ea"),
)
# Table A.2, variable key KAT, plaintext 0000000000000000.
SP800_20_A2 = (
    ("8001010101010101", "95a8d72813daa94d"),
    ("4001010101010101", "0eec1487dd8c26d5"),
    ("2001010101010101", "7ad16ffb79c45926"),
)
# Table A.3, permutation operation KAT (first entry), plaintext 0000000000000000.
SP800_20_A3 = (
    ("1046913489980131", "88d55e54f54c97b4"),
)
# Table A.4, substitution table KAT (first entries): key, plaintext, ciphertext.
SP800_20_A4 = (
    ("7ca110454a1a6e57", "01a1d6d039776742", "690f5b0d9a26939b"),
    ("0131d9619dc1376e", "5cd54ca83def57da", "7a389d10354bd271"),
    ("07a1133e4a0b2686", "0248d43806f67172", "868ebb51cab4599a"),
)


def _sp800_20_cases():
    out = []
    for pt, ct in SP800_20_A1:
        out.append(("0101010101010101", pt, ct))
    for key, ct in SP800_20_A2 + SP800_20_A3:
        out.append((key, "0000000000000000", ct))
    return out + list(SP800_20_A4)


def test_des_sp800_20_kat():
    # SP 800-20 appendix A tables A.1-A.4 (K1 = K2 = K3, i.e. single DES).
    for key, pt, ct in _sp800_20_cases():
        d = des.Des(h(key))
        assert d.encrypt_block(h(pt)) == h(ct), key
        assert d.decrypt_block(h(ct)) == h(pt), key


def test_3des_sp800_20_kat_k1_k2_k3_equal():
    # SP 800-20 appendix A: the TDEA KATs use KEY1 = KEY2 = KEY3; run them
    # alternately as a three-key (24-byte) and a two-key (16-byte, K3 = K1) TripleDes.
    n = 0
    for key, pt, ct in _sp800_20_cases():
        t = des.TripleDes(h(key) * (3 if n % 2 else 2))
        assert t.encrypt_block(h(pt)) == h(ct), key
        assert t.decrypt_block(h(ct)) == h(pt), key
        n += 1


def test_3des_three_key_sp800_67():
    # NIST SP 800-67 (Rev. 1 and Rev. 2), appendix B, TDEA example:
    # K1 0123456789ABCDEF, K2 23456789ABCDEF01, K3 456789ABCDEF0123,
    # plaintext "The qufck brown fox jump" (sic), ECB.
    key = h("0123456789abcdef 23456789abcdef01 456789abcdef0123")
    pt = b"The qufck brown fox jump"
    ct = h("a826fd8ce53b855f cce21c8112256fe6 68d5c05dd9b6b900")
    t = des.TripleDes(key)
    for i in range(0, 24, 8):
        assert t.encrypt_block(pt[i:i + 8]) == ct[i:i + 8]
        assert t.decrypt_block(ct[i:i + 8]) == pt[i:i + 8]
    p = Profile(cipher_mode=MODE_ECB)
    out = cipher.encrypt(cipher.ALG_3DES, key, pt, p)
    assert out[:24] == ct and len(out) == 32
    assert cipher.decrypt(cipher.ALG_3DES, key, out, p) == pt


def test_3des_two_key_cavp_tecbmmt2():
    # NIST CAVP TDES multi-block message test, tdesmmt.zip, TECBMMT2.rsp
    # (keying option 2: KEY3 = KEY1; the key here is KEY1 || KEY2).
    # [ENCRYPT] COUNT = 1
    t = des.TripleDes(h("259df16e7af804fe 83b90e9bf7c7e557"))
    pt = h("a4619c433bbd6787 c07c81728f9ac9fa")
    ct = h("9e06de155c483c6b cfd834dbc8bd5830")
    for i in (0, 8):
        assert t.encrypt_block(pt[i:i + 8]) == ct[i:i + 8]
        assert t.decrypt_block(ct[i:i + 8]) == pt[i:i + 8]
    # [DECRYPT] COUNT = 0
    t = des.TripleDes(h("151f10383d6d199b 4a763bd54a46a445"))
    assert t.decrypt_block(h("89321ba75ba545db")) == h("d8da89298878ed7d")
    assert t.encrypt_block(h("d8da89298878ed7d")) == h("89321ba75ba545db")
    # [DECRYPT] COUNT = 1, through cipher (ECB profile, one padding block added).
    key = h("023dfbe6621aa17c c219eae9cdecd923")
    ct = h("54045dc71d8d565b 227ec19f06fef912")
    pt = h("9b071622181e6412 de6066429401410d")
    t = des.TripleDes(key)
    assert t.decrypt_block(ct[:8]) + t.decrypt_block(ct[8:]) == pt
    p = Profile(cipher_mode=MODE_ECB)
    assert cipher.encrypt(cipher.ALG_3DES, key, pt, p)[:16] == ct
    # The 24-byte form K1 || K2 || K1 is the same cipher.
    assert cipher.encrypt(cipher.ALG_3DES, key + key[:8], pt, p)[:16] == ct


# ---------------------------------------------------------------- AES

FIPS197_PT = "00112233445566778899aabbccddeeff"
# FIPS 197, appendix C.1 (AES-128), C.2 (AES-192), C.3 (AES-256).
FIPS197_C = (
    ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
    ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "8ea2b7ca516745bfeafc49904b496089"),
)


def test_aes_fips197_appendix_c():
    # FIPS 197 appendix C: encrypt and decrypt for all three key sizes.
    for key, ct in FIPS197_C:
        a = aes.Aes(h(key))
        assert a.encrypt_block(h(FIPS197_PT)) == h(ct), len(key)
        assert a.decrypt_block(h(ct)) == h(FIPS197_PT), len(key)


def test_aes_fips197_appendix_b():
    # FIPS 197 appendix B, cipher example.
    a = aes.Aes(h("2b7e151628aed2a6abf7158809cf4f3c"))
    assert a.encrypt_block(h("3243f6a8885a308d313198a2e0370734")) == \
        h("3925841d02dc09fbdc118597196a0b32")
    assert a.decrypt_block(h("3925841d02dc09fbdc118597196a0b32")) == \
        h("3243f6a8885a308d313198a2e0370734")


def test_aes_in_place_block_api():
    # FIPS 197 appendix C.1, through encrypt_into / decrypt_into at an offset.
    a = aes.Aes(h(FIPS197_C[0][0]))
    buf = bytearray(b"xyz" + h(FIPS197_PT) + b"!")
    a.encrypt_into(buf, 3)
    assert bytes(buf) == b"xyz" + h(FIPS197_C[0][1]) + b"!"
    a.decrypt_into(buf, 3)
    assert bytes(buf) == b"xyz" + h(FIPS197_PT) + b"!"


# NIST SP 800-38A, appendix F.2.1 (CBC-AES128.Encrypt) and F.2.2 (CBC-AES128.Decrypt).
SP800_38A_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
SP800_38A_IV = "000102030405060708090a0b0c0d0e0f"
SP800_38A_PT = ("6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
                "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710")
SP800_38A_CT = ("7649abac8119b246cee98e9b12e9197d" "5086cb9b507219ee95db113a917678b2"
                "73bed6b8e3c1743b7116e69e22229516" "3ff1caa1681fac09120eca307586e1a7")


def test_aes_cbc_sp800_38a_f21_encrypt():
    # SP 800-38A F.2.1.  38A has no padding, so the PKCS#7 output carries one
    # extra block; the first four blocks must be the published ciphertext.
    p = Profile(cipher_mode=MODE_CBC, iv=h(SP800_38A_IV))
    ct = cipher.encrypt(cipher.ALG_AES, h(SP800_38A_KEY), h(SP800_38A_PT), p)
    assert len(ct) == 80
    assert ct[:64] == h(SP800_38A_CT)


def test_aes_cbc_sp800_38a_f22_decrypt():
    # SP 800-38A F.2.2 through the block primitive: P_i = D(C_i) xor C_(i-1).
    a = aes.Aes(h(SP800_38A_KEY))
    ct = h(SP800_38A_CT)
    prev = h(SP800_38A_IV)
    out = b""
    for i in range(0, 64, 16):
        blk = a.decrypt_block(ct[i:i + 16])
        out += bytes(x ^ y for x, y in zip(blk, prev))
        prev = ct[i:i + 16]
    assert out == h(SP800_38A_PT)
    # And through cipher.decrypt: the published ciphertext followed by a valid
    # padding block (E(K, 16 x 0x10 xor C_4)) decrypts to the published plaintext.
    pad = a.encrypt_block(bytes(0x10 ^ c for c in ct[48:64]))
    p = Profile(iv=h(SP800_38A_IV))
    assert cipher.decrypt(cipher.ALG_AES, h(SP800_38A_KEY), ct + pad, p) == h(SP800_38A_PT)


# ---------------------------------------------------------------- cipher

K_AES = b"0123456789abcdef"     # key strings are ASCII alphanumerics (PROTOCOL.md 8)
K_DES = b"Key01234"
K_3DES = b"K1K1K1K1K2K2K2K2"


def test_pkcs7_boundaries():
    # PROTOCOL.md 5: PKCS#7 always adds 1..16 bytes (AES) / 1..8 (DES); check the
    # pad bytes by decrypting the last block with the raw primitive (ECB).
    p = Profile(cipher_mode=MODE_ECB)
    a = aes.Aes(K_AES)
    for n, total in ((0, 16), (15, 16), (16, 32), (17, 32)):
        data = bytes(range(n))
        ct = cipher.encrypt(cipher.ALG_AES, K_AES, data, p)
        assert len(ct) == total, n
        last = a.decrypt_block(ct[-16:])
        pad = total - n
        assert last[16 - pad:] == bytes([pad]) * pad, n
        assert cipher.decrypt(cipher.ALG_AES, K_AES, ct, p) == data
        assert cipher.encrypted_length(cipher.ALG_AES, n) == total
    d = des.Des(K_DES)
    for n, total in ((0, 8), (7, 8), (8, 16), (9, 16)):
        data = b"x" * n
        ct = cipher.encrypt(cipher.ALG_DES, K_DES, data, p)
        assert len(ct) == total
        pad = total - n
        assert d.decrypt_block(ct[-8:])[8 - pad:] == bytes([pad]) * pad
        assert cipher.decrypt(cipher.ALG_DES, K_DES, ct, p) == data


def test_cbc_round_trip_all_algorithms():
    # PROTOCOL.md 5 default profile: CBC, zero IV, PKCS#7.
    data = b"WMMP-T " * 7
    for alg, key in ((cipher.ALG_DES, K_DES), (cipher.ALG_3DES, K_3DES),
                     (cipher.ALG_3DES, K_3DES + b"K3K3K3K3"), (cipher.ALG_AES, K_AES),
                     (cipher.ALG_AES, K_AES + b"GHIJKLMN"), (cipher.ALG_AES, K_AES * 2)):
        ct = cipher.encrypt(alg, key, data)
        assert ct != data and len(ct) == cipher.encrypted_length(alg, len(data))
        assert cipher.decrypt(alg, key, ct) == data
        assert cipher.decrypt(alg, key, bytearray(ct)) == data
        assert cipher.decrypt(alg, bytearray(key), memoryview(ct)) == data


def test_key_cache_follows_the_key():
    # PROTOCOL.md 5 session keys change at every login: a cached key schedule must
    # never be used for another key or algorithm, and forget_keys() drops it.
    data = b"session data"
    k2 = b"fedcba9876543210"
    c1 = cipher.encrypt(cipher.ALG_AES, K_AES, data)
    c2 = cipher.encrypt(cipher.ALG_AES, k2, data)
    assert c1 != c2
    assert cipher.decrypt(cipher.ALG_AES, K_AES, c1) == data
    assert cipher.decrypt(cipher.ALG_AES, k2, c2) == data
    # 16 bytes are both an AES key and a two-key 3DES key: different ciphers.
    c3 = cipher.encrypt(cipher.ALG_3DES, K_AES, data)
    assert len(c3) == 16 and c3 != c1
    cipher.forget_keys()
    assert cipher.decrypt(cipher.ALG_3DES, K_AES, c3) == data
    assert _raises(DecryptError, cipher.decrypt, cipher.ALG_AES, k2, c1)


def test_cbc_zero_iv_is_default():
    # PROTOCOL.md 5: IV of zero bytes; the first CBC block equals the ECB block, the
    # second differs for equal plaintext blocks (chaining).
    data = b"A" * 32
    cbc = cipher.encrypt(cipher.ALG_AES, K_AES, data)
    assert cipher.encrypt(cipher.ALG_AES, K_AES, data, Profile(iv=bytes(16))) == cbc
    ecb = cipher.encrypt(cipher.ALG_AES, K_AES, data, Profile(cipher_mode=MODE_ECB))
    assert cbc[:16] == ecb[:16]
    assert ecb[16:32] == ecb[:16]
    assert cbc[16:32] != ecb[16:32]


def test_decrypt_errors_on_length():
    # PROTOCOL.md 5: ciphertext that is empty or not whole blocks is a decryption failure.
    for alg, key, bad in ((cipher.ALG_AES, K_AES, (0, 15, 17, 31)),
                          (cipher.ALG_DES, K_DES, (0, 7, 9)),
                          (cipher.ALG_3DES, K_3DES, (0, 4, 12))):
        for n in bad:
            assert _raises(DecryptError, cipher.decrypt, alg, key, bytes(n)), (alg, n)


def test_decrypt_errors_on_bad_padding():
    # PROTOCOL.md 5: every pad byte is checked.  One block, zero IV: C = E(K, P), so
    # decrypt(C) sees P as the padded plaintext.
    a = aes.Aes(K_AES)
    for last in (b"\x00", b"\x11", b"\xff"):
        ct = a.encrypt_block(b"a" * 15 + last)
        assert _raises(DecryptError, cipher.decrypt, cipher.ALG_AES, K_AES, ct)
    ct = a.encrypt_block(b"a" * 12 + b"\x04\x04\x05\x04")
    assert _raises(DecryptError, cipher.decrypt, cipher.ALG_AES, K_AES, ct)
    ct = a.encrypt_block(b"\x10" + b"\x0f" * 15)
    assert cipher.decrypt(cipher.ALG_AES, K_AES, ct) == b"\x10"
    ct = a.encrypt_block(b"\x0f" * 15 + b"\x10")
    assert _raises(DecryptError, cipher.decrypt, cipher.ALG_AES, K_AES, ct)
    d = des.Des(K_DES)
    for blk in (b"abcdefg\x09", b"abcdefg\x00", b"abcde\x03\x02\x03"):
        assert _raises(DecryptError, cipher.decrypt, cipher.ALG_DES, K_DES, d.encrypt_block(blk))
    assert cipher.decrypt(cipher.ALG_DES, K_DES, d.encrypt_block(b"abcde\x03\x03\x03")) == b"abcde"
    # A wrong key almost always shows up as bad padding.
    ct = cipher.encrypt(cipher.ALG_3DES, K_3DES, b"hello")
    assert _raises(DecryptError, cipher.decrypt, cipher.ALG_3DES, b"K9K1K1K1K2K2K2K2", ct)


def test_bad_key_sizes():
    # PROTOCOL.md 5: DES 8 bytes, 3DES 16 or 24, AES 16, 24 or 32.
    for alg, sizes in ((cipher.ALG_DES, (0, 7, 9, 16)), (cipher.ALG_3DES, (8, 15, 17, 23, 32)),
                       (cipher.ALG_AES, (8, 15, 17, 20, 33))):
        for n in sizes:
            key = b"k" * n
            assert _raises(BadValue, cipher.check_key, alg, key), (alg, n)
            assert _raises(BadValue, cipher.encrypt, alg, key, b"data"), (alg, n)
            assert _raises(BadValue, cipher.decrypt, alg, key, bytes(16)), (alg, n)
    for alg, sizes in ((cipher.ALG_DES, (8,)), (cipher.ALG_3DES, (16, 24)),
                       (cipher.ALG_AES, (16, 24, 32))):
        for n in sizes:
            assert cipher.check_key(alg, b"k" * n) is None
    assert _raises(BadValue, cipher.check_key, cipher.ALG_AES, "0123456789abcdef")
    assert _raises(BadValue, cipher.check_key, 9, b"k" * 16)
    assert _raises(BadValue, des.Des, b"k" * 7)
    assert _raises(BadValue, des.TripleDes, b"k" * 8)
    assert _raises(BadValue, aes.Aes, b"k" * 20)
    assert _raises(BadValue, des.Des(K_DES).encrypt_block, b"short")
    assert _raises(BadValue, aes.Aes(K_AES).decrypt_block, b"x" * 15)


def test_rsa_unsupported():
    # PROTOCOL.md 5: RSA is not supported -> answer "unsupported".
    assert _raises(Unsupported, cipher.check_key, cipher.ALG_RSA, b"k" * 16)
    assert _raises(Unsupported, cipher.encrypt, cipher.ALG_RSA, b"k" * 16, b"x")
    assert _raises(Unsupported, cipher.decrypt, cipher.ALG_RSA, b"k" * 16, bytes(16))
    assert _raises(Unsupported, cipher.alg_from_e035, 0x04)
    assert _raises(Unsupported, cipher.alg_from_key_alg, 0x03)


def test_alg_none_passes_through():
    # PROTOCOL.md 5 / E035 0x00: no encryption.
    data = b"\x00\x01plain"
    assert cipher.encrypt(cipher.ALG_NONE, None, data) is data
    assert cipher.decrypt(cipher.ALG_NONE, None, data) is data


def test_e035_and_e039_code_mapping():
    # PROTOCOL.md 5: E035 uses 0 none, 1 DES, 2 3DES, 3 AES, 4 RSA;
    # E039 / E03E use 0 DES, 1 3DES, 2 AES, 3 RSA.
    assert (cipher.ALG_NONE, cipher.ALG_DES, cipher.ALG_3DES, cipher.ALG_AES,
            cipher.ALG_RSA) == (0, 1, 2, 3, 4)
    assert cipher.alg_from_e035(0x00) == cipher.ALG_NONE
    assert cipher.alg_from_e035(0x01) == cipher.ALG_DES
    assert cipher.alg_from_e035(0x02) == cipher.ALG_3DES
    assert cipher.alg_from_e035(0x03) == cipher.ALG_AES
    assert cipher.alg_from_key_alg(0x00) == cipher.ALG_DES
    assert cipher.alg_from_key_alg(0x01) == cipher.ALG_3DES
    assert cipher.alg_from_key_alg(0x02) == cipher.ALG_AES
    assert cipher.key_alg_code(cipher.ALG_DES) == 0x00
    assert cipher.key_alg_code(cipher.ALG_3DES) == 0x01
    assert cipher.key_alg_code(cipher.ALG_AES) == 0x02
    assert cipher.key_alg_code(cipher.ALG_RSA) == 0x03
    for code in (0, 1, 2):
        assert cipher.key_alg_code(cipher.alg_from_key_alg(code)) == code
    assert _raises(BadValue, cipher.alg_from_e035, 0x05)
    assert _raises(BadValue, cipher.alg_from_e035, 0xFF)
    assert _raises(BadValue, cipher.alg_from_key_alg, 0x04)
    assert _raises(BadValue, cipher.alg_from_key_alg, -1)
    assert _raises(BadValue, cipher.key_alg_code, cipher.ALG_NONE)
    try:
        cipher.alg_from_e035(7)
    except BadValue as e:
        assert e.tag == 0xE035
    try:
        cipher.alg_from_key_alg(9, 0xE039)
    except BadValue as e:
        assert e.tag == 0xE039


def test_key_string_check():
    # PROTOCOL.md 8: key strings E036 / E03B are ASCII letters and digits.
    assert cipher.check_key_string(b"abcXYZ0189") == b"abcXYZ0189"
    assert cipher.check_key_string("Key01234") == b"Key01234"
    assert cipher.check_key_string(bytearray(b"AZaz09")) == b"AZaz09"
    for bad in (b"", b"ab-c", b"ab c", b"key\x00", b"\x80abc", b"a/b", b"a:b", b"a@b",
                b"a[b", b"a`b", b"a{b", "k\u00e9y", 1234):
        assert _raises(BadValue, cipher.check_key_string, bad), bad


def test_profile_errors():
    # PROTOCOL.md 5 profile knobs: unknown mode, IV of the wrong size.
    assert _raises(BadValue, cipher.encrypt, cipher.ALG_AES, K_AES, b"x", Profile(cipher_mode=3))
    assert _raises(BadValue, cipher.encrypt, cipher.ALG_DES, K_DES, b"x", Profile(iv=bytes(16)))
    assert _raises(BadValue, cipher.decrypt, cipher.ALG_AES, K_AES, bytes(16), Profile(iv=bytes(8)))

