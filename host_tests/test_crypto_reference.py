"""Property tests of wmmp.crypto.md5 / des / aes / cipher against independent implementations.

CPython only: pycryptodome (Crypto.Cipher DES, DES3, AES) and hashlib are the
references; hypothesis supplies random keys, data and chunkings (PROTOCOL.md 5).
"""

import hashlib

from hypothesis import given, settings, strategies as st
from Crypto.Cipher import AES, DES, DES3
from Crypto.Util.Padding import pad, unpad

from wmmp.crypto import aes, cipher, des, md5
from wmmp.errors import DecryptError
from wmmp.wire.profile import MODE_ECB, Profile

EXAMPLES = settings(max_examples=150, deadline=None)

data_st = st.binary(min_size=0, max_size=300)
des_key = st.binary(min_size=8, max_size=8)
aes_key = st.sampled_from((16, 24, 32)).flatmap(lambda n: st.binary(min_size=n, max_size=n))


def _parity_free(b):
    return bytes(x & 0xFE for x in b)


def _distinct_3des_key(n):
    """Keys pycryptodome's DES3 accepts: K1 != K2 and (three-key) K2 != K3, ignoring parity."""
    def ok(k):
        k1, k2, k3 = _parity_free(k[0:8]), _parity_free(k[8:16]), _parity_free(k[16:24])
        if k1 == k2:
            return False
        return n == 16 or k2 != k3
    return st.binary(min_size=n, max_size=n).filter(ok)


tdes_key = st.sampled_from((16, 24)).flatmap(_distinct_3des_key)


def _reference(alg, key, mode, iv):
    if alg == cipher.ALG_AES:
        mod, bs = AES, 16
    elif alg == cipher.ALG_DES:
        mod, bs = DES, 8
    else:
        mod, bs = DES3, 8
    if mode == MODE_ECB:
        return mod.new(key, mod.MODE_ECB), bs
    return mod.new(key, mod.MODE_CBC, iv if iv is not None else bytes(bs)), bs


def _check_against_reference(alg, key, data, mode=None, iv=None):
    prof = Profile(cipher_mode=mode, iv=iv) if mode is not None else Profile(iv=iv)
    ref, bs = _reference(alg, key, mode, iv)
    want = ref.encrypt(pad(data, bs))
    got = cipher.encrypt(alg, key, data, prof)
    assert isinstance(got, bytes)
    assert got == want
    assert cipher.decrypt(alg, key, want, prof) == data


# ------------------------------------------------------------ cipher vs pycryptodome

@EXAMPLES
@given(des_key, data_st)
def test_des_cbc_matches_pycryptodome(key, data):
    _check_against_reference(cipher.ALG_DES, key, data)


@EXAMPLES
@given(tdes_key, data_st)
def test_3des_cbc_matches_pycryptodome(key, data):
    # 16-byte keys are two-key EDE (K3 = K1), which DES3 also does for 16 bytes.
    _check_against_reference(cipher.ALG_3DES, key, data)


@EXAMPLES
@given(aes_key, data_st)
def test_aes_cbc_matches_pycryptodome(key, data):
    _check_against_reference(cipher.ALG_AES, key, data)


@EXAMPLES
@given(st.sampled_from((cipher.ALG_DES, cipher.ALG_3DES, cipher.ALG_AES)), st.data(), data_st)
def test_ecb_and_random_iv_match_pycryptodome(alg, draw, data):
    key = draw.draw({cipher.ALG_DES: des_key, cipher.ALG_3DES: tdes_key,
                     cipher.ALG_AES: aes_key}[alg])
    bs = 16 if alg == cipher.ALG_AES else 8
    _check_against_reference(alg, key, data, mode=MODE_ECB)
    _check_against_reference(alg, key, data, iv=draw.draw(st.binary(min_size=bs, max_size=bs)))


@EXAMPLES
@given(st.sampled_from((cipher.ALG_DES, cipher.ALG_3DES, cipher.ALG_AES)), st.data())
def test_decrypt_of_random_blocks_agrees_with_reference_unpad(alg, draw):
    # Arbitrary ciphertext: we raise DecryptError exactly when PKCS#7 unpadding
    # of the reference decryption fails, and otherwise return the same bytes.
    key = draw.draw({cipher.ALG_DES: des_key, cipher.ALG_3DES: tdes_key,
                     cipher.ALG_AES: aes_key}[alg])
    bs = 16 if alg == cipher.ALG_AES else 8
    nblocks = draw.draw(st.integers(min_value=1, max_value=6))
    ct = draw.draw(st.binary(min_size=bs * nblocks, max_size=bs * nblocks))
    if draw.draw(st.booleans()):
        # Make valid padding likely: encrypt a plaintext and keep its ciphertext.
        ct = cipher.encrypt(alg, key, ct[:-1])
    ref, _ = _reference(alg, key, None, None)
    plain = ref.decrypt(ct)
    try:
        want = unpad(plain, bs, style="pkcs7")
    except ValueError:
        want = None
    try:
        got = cipher.decrypt(alg, key, ct)
    except DecryptError:
        got = None
    assert got == want


@EXAMPLES
@given(st.sampled_from((cipher.ALG_DES, cipher.ALG_3DES, cipher.ALG_AES)), st.data())
def test_decrypt_rejects_partial_blocks(alg, draw):
    bs = 16 if alg == cipher.ALG_AES else 8
    key = draw.draw({cipher.ALG_DES: des_key, cipher.ALG_3DES: tdes_key,
                     cipher.ALG_AES: aes_key}[alg])
    n = draw.draw(st.integers(min_value=0, max_value=100).filter(lambda n: n % bs or n == 0))
    try:
        cipher.decrypt(alg, key, bytes(n))
    except DecryptError:
        return
    raise AssertionError("no DecryptError for length %d" % n)


# ------------------------------------------------------------ block classes vs pycryptodome

@EXAMPLES
@given(des_key, st.binary(min_size=8, max_size=8))
def test_des_block_matches_pycryptodome(key, block):
    want = DES.new(key, DES.MODE_ECB).encrypt(block)
    d = des.Des(key)
    assert d.encrypt_block(block) == want
    assert d.decrypt_block(want) == block


@EXAMPLES
@given(tdes_key, st.binary(min_size=8, max_size=8))
def test_triple_des_block_matches_pycryptodome(key, block):
    want = DES3.new(key, DES3.MODE_ECB).encrypt(block)
    t = des.TripleDes(key)
    assert t.encrypt_block(block) == want
    assert t.decrypt_block(want) == block
    if len(key) == 16:
        # Two-key EDE equals the 24-byte key K1 || K2 || K1.
        assert des.TripleDes(key + key[:8]).encrypt_block(block) == want


@EXAMPLES
@given(des_key, des_key, st.binary(min_size=8, max_size=8))
def test_two_key_3des_is_ede_of_single_des(k1, k2, block):
    # Also covers K1 == K2 (which DES3 refuses): EDE is E_K1(D_K2(E_K1(x))).
    d1 = DES.new(k1, DES.MODE_ECB)
    d2 = DES.new(k2, DES.MODE_ECB)
    want = d1.encrypt(d2.decrypt(d1.encrypt(block)))
    t = des.TripleDes(k1 + k2)
    assert t.encrypt_block(block) == want
    assert t.decrypt_block(want) == block


@EXAMPLES
@given(aes_key, st.binary(min_size=16, max_size=16))
def test_aes_block_matches_pycryptodome(key, block):
    want = AES.new(key, AES.MODE_ECB).encrypt(block)
    a = aes.Aes(key)
    assert a.encrypt_block(block) == want
    assert a.decrypt_block(want) == block


# ------------------------------------------------------------ MD5 vs hashlib

@EXAMPLES
@given(st.binary(min_size=0, max_size=700))
def test_pure_md5_matches_hashlib(data):
    assert md5.PureMd5(data).digest() == hashlib.md5(data).digest()


@EXAMPLES
@given(st.binary(min_size=0, max_size=700),
       st.lists(st.integers(min_value=0, max_value=130), min_size=1, max_size=20).filter(any),
       st.sampled_from((bytes, bytearray, memoryview)))
def test_pure_md5_random_chunking_matches_hashlib(data, sizes, kind):
    # Chunk sizes cycle through `sizes`; zeros feed empty updates.
    h = md5.PureMd5()
    ref = hashlib.md5()
    i = 0
    k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        piece = data[i:i + n]
        h.update(kind(piece))
        ref.update(piece)
        i += n
        k += 1
        if k % 3 == 0:
            assert h.digest() == ref.digest()
    assert h.digest() == ref.digest() == hashlib.md5(data).digest()


# ------------------------------------------------------------ the cryptolib path

class _FakeCryptolibAes:
    """MicroPython cryptolib.aes stand-in (modes 1 ECB, 2 CBC; in-place buffers)."""

    def __init__(self, key, mode, iv=None):
        if len(key) not in (16, 32):
            raise ValueError("key")
        self._c = AES.new(bytes(key), AES.MODE_ECB) if mode == 1 else \
            AES.new(bytes(key), AES.MODE_CBC, bytes(iv))

    def encrypt(self, inbuf, outbuf):
        outbuf[:] = self._c.encrypt(bytes(inbuf))

    def decrypt(self, inbuf, outbuf):
        outbuf[:] = self._c.decrypt(bytes(inbuf))


class _FakeCryptolib:
    aes = _FakeCryptolibAes


@EXAMPLES
@given(aes_key, data_st, st.booleans())
def test_cryptolib_path_matches_pure_path(key, data, ecb):
    # With a cryptolib-like module present, AES-128/256 go through it and
    # AES-192 falls back to the pure class; results must not change.
    prof = Profile(cipher_mode=MODE_ECB) if ecb else Profile()
    pure = cipher.encrypt(cipher.ALG_AES, key, data, prof)
    bad = bytearray(pure)
    bad[-1] ^= 0x5A
    ref, _ = _reference(cipher.ALG_AES, key, MODE_ECB if ecb else None, None)
    try:
        want_bad = unpad(ref.decrypt(bytes(bad)), 16, style="pkcs7")
    except ValueError:
        want_bad = None
    saved = cipher.cryptolib
    cipher.cryptolib = _FakeCryptolib
    try:
        hw = cipher.encrypt(cipher.ALG_AES, key, data, prof)
        back = cipher.decrypt(cipher.ALG_AES, key, hw, prof)
        try:
            got_bad = cipher.decrypt(cipher.ALG_AES, key, bytes(bad), prof)
        except DecryptError:
            got_bad = None
    finally:
        cipher.cryptolib = saved
    assert hw == pure
    assert back == data
    assert got_bad == want_bad
