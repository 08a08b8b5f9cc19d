"""LwM2M paths (OMA LwM2M TS 1.1 section 6.1; And-link spec sections 6.5-6.10).  Portable."""
from andlink.lwm2m import path as P
from andlink.lwm2m.codes import PathError, Lwm2mError, BAD_REQUEST


def _bad(fn, arg):
    try:
        fn(arg)
    except PathError as e:
        assert e.code == BAD_REQUEST and isinstance(e, Lwm2mError) and isinstance(e, ValueError)
        return
    assert False, arg


def test_parse_every_depth():
    assert P.parse("/") == () and P.parse("") == ()
    assert P.parse("/3") == (3,)
    assert P.parse("/3/0") == (3, 0)
    assert P.parse("/3/0/1") == (3, 0, 1)
    assert P.parse("/3/0/11/0") == (3, 0, 11, 0)
    assert P.parse("3/0/26261") == (3, 0, 26261)        # leading slash optional
    assert P.parse("/19/1/0/") == (19, 1, 0)            # trailing slash accepted
    assert P.parse(b"/5/0/3") == (5, 0, 3)
    assert P.parse("/65534") == (65534,)


def test_parse_refuses_bad_paths():
    for bad in ("/3/0/1/2/3", "/a", "/3//0", "/-1", "/+3", "/03", "/3/00", "/65535", "/99999", "/3 ",
                "/ 3", "/1e3", "//", "/3/0x1", "/\u0663", "/123456"):
        _bad(P.parse, bad)
    _bad(P.parse, b"/\xff")


def test_segments_from_uri_path_options():
    assert P.from_segments([b"3", b"0", b"9"]) == (3, 0, 9)
    assert P.from_segments(["19", "1", "0"]) == (19, 1, 0)
    assert P.from_segments([b""]) == ()
    assert P.from_segments([]) == ()
    _bad(P.from_segments, [b"1", b"2", b"3", b"4", b"5"])
    _bad(P.from_segments, [b"rd"])


def test_format_and_round_trip():
    assert P.fmt(()) == "/"
    assert P.fmt((3,)) == "/3"
    assert P.fmt((3, 0, 11, 0)) == "/3/0/11/0"
    for p in ((), (0,), (3, 0), (5, 0, 26550), (3, 0, 11, 7), (65534, 65534, 65534, 65534)):
        assert P.parse(P.fmt(p)) == p


def test_check_and_coerce():
    assert P.check((3, 0)) == (3, 0)
    for bad in ((3, -1), (3, 65535), (1, 2, 3, 4, 5), (True,), ("3",), [3]):
        _bad(P.check, bad)
    assert P.coerce("/3/0") == (3, 0)
    assert P.coerce((3, 0, 1)) == (3, 0, 1)
    assert P.coerce([b"3", b"0"]) == (3, 0)


def test_under():
    assert P.under((3, 0, 1), (3,)) and P.under((3, 0, 1), (3, 0, 1)) and P.under((3,), ())
    assert not P.under((3,), (3, 0)) and not P.under((4, 0), (3,))
