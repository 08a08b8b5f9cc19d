"""The declarative object tables (objects.py) and the And-link objects
(objdefs.py; And-link spec sections 5.2, 3.5, 4.1.5, 4.2.2, 4.4.4, 4.5).  Portable."""
from andlink.lwm2m import objects as O
from andlink.lwm2m import objdefs as D
from andlink.lwm2m.codes import (R, W, E, RW, MULTI, MAND, OPS, STR, INT, rtype, T_NONE, T_STRING, T_INT,
                                 T_TIME, T_JSON, T_OPAQUE)


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    assert False, (fn, args)


def test_the_andlink_objects():
    assert [O.oid(od) for od in D.ANDLINK] == [0, 1, 2, 3, 4, 5, 6, 7, 19, 20]
    # mandatory: OMA's 0, 1, 3; section 5.2's 4-7; 19 (4.1.5 reads /19/1/0); not 2 nor 20 (4.5: "recommended")
    assert [O.oid(od) for od in D.ANDLINK if O.oflags(od) & MAND] == [0, 1, 3, 4, 5, 6, 7, 19]
    assert [O.oid(od) for od in D.ANDLINK if O.oflags(od) & MULTI] == [0, 1, 2, 19]
    assert O.version(D.DEVICE) == "1.1" and O.version(D.FIRMWARE) == "1.0"
    assert len(O.rids(D.DEVICE)) == 24 and O.rids(D.DEVICE)[-1] == 26261


def test_andlink_resources():
    f = O.rflags(D.DEVICE, 1)          # 3.5, 4.1.5: Model Number carries the product token
    assert f & R and not f & W and f & MAND and rtype(f) == T_STRING
    for rid in (3, 17, 19):            # firmware (module), device type, software (MCU) version
        assert O.rflags(D.DEVICE, rid) & MAND and rtype(O.rflags(D.DEVICE, rid)) == T_STRING
    assert O.rflags(D.CONN_MON, 8) & MAND                                # 4.1.5: Cell ID
    assert rtype(O.rflags(D.DEVICE, 26261)) == T_INT                     # 4.4.4: MCU Memory Free
    assert O.rflags(D.FIRMWARE, 26550) & OPS == E                        # 4.4.4: Switch to MCU Update
    assert O.rflags(D.FIRMWARE, 1) & OPS == RW and O.rflags(D.FIRMWARE, 2) & OPS == E
    assert O.rflags(D.FIRMWARE, 4) == -1                                 # not in Firmware Update 1.0.2
    f = O.rflags(D.APP_DATA, 0)        # 4.2.2: /19/1/0 one JSON value
    assert rtype(f) == T_JSON and not f & MULTI and f & OPS == RW
    assert rtype(O.rflags(D.LOCATION, 0)) == T_STRING                     # 6.5.4's example: text
    assert rtype(O.rflags(D.LOCATION, 5)) == T_TIME
    assert O.rflags(D.DEVICE, 11) & MULTI and O.rflags(D.DEVICE, 11) & MAND
    assert O.rflags(D.EVENT_LOG, 4014) & MAND and rtype(O.rflags(D.EVENT_LOG, 4014)) == T_OPAQUE
    for rid in range(13):              # Security: only a Bootstrap-Server touches it
        assert O.rflags(D.SECURITY, rid) & OPS == 0
    assert O.rflags(D.DEVICE, 99) == -1
    assert D.PRODUCT_TOKEN == (3, 0, 1) and D.DEVICE_TYPE == (3, 0, 17) and D.PARAMS == (19, 1, 0)
    assert D.FW_STATE == (5, 0, 3) and D.MCU_MEMORY_FREE == (3, 0, 26261)


def test_tables_are_consistent():
    for od in D.ANDLINK:
        for rid, name, f in O.rows(od):
            assert name and 0 <= rid <= 65534
            if f & E:
                assert f & OPS == E and rtype(f) == T_NONE, (O.oid(od), rid)
            else:
                assert rtype(f) != T_NONE, (O.oid(od), rid)
        assert len(od[4]) == 4 * len(od[5])          # 4 bytes a row beside the names


def test_an_oem_extends_without_touching_the_core():
    dev = O.extend(D.DEVICE, ((30000, "Vendor Code", R | INT), (9, "Battery Level", R | INT | MAND)), "1.1")
    assert O.rflags(dev, 30000) == R | INT and O.rname(dev, 30000) == "Vendor Code"
    assert O.rflags(dev, 9) & MAND and not O.rflags(D.DEVICE, 9) & MAND     # the original is untouched
    assert O.rflags(dev, 0) == O.rflags(D.DEVICE, 0)
    mine = O.obj(26241, "Meter", MULTI, ((0, "Reading", R | INT | MAND), (1, "Reset", E)), "2.0")
    assert O.name(mine) == "Meter" and O.rids(mine) == [0, 1] and O.version(mine) == "2.0"
    assert O.rows(mine) == [(0, "Reading", R | INT | MAND), (1, "Reset", E)]
    _raises(ValueError, O.obj, 9, "x", 0, ((0, "a", R | STR), (0, "b", R | STR)))
    _raises(ValueError, O.obj, 9, "x", 0, ((65535, "a", R | STR),))


def test_describe():
    lines = O.describe(D.FIRMWARE)
    assert lines[0] == "5 Firmware Update v1.0 Single Mandatory"
    assert "  26550 Switch to MCU Update E Single Optional " in lines
    assert "  1 Package URI RW Single Mandatory String" in lines
    assert O.ops_str(RW) == "RW" and O.ops_str(0) == ""
    assert O.describe(D.SECURITY)[1] == "  0 LwM2M Server URI - Single Mandatory String"
