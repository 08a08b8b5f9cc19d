"""Declarative object tables: how an object is written down and looked up.

An object is declared as its ID, name, flags (MULTI: multiple instances,
MAND: mandatory), its resource rows and its version:

    DEVICE = obj(3, "Device", MAND, (
        (0, "Manufacturer", R | STR),
        (4, "Reboot", E | MAND),
        (11, "Error Code", R | INT | MULTI | MAND),
    ), "1.1")

Each row is (resource ID, name, flags): the operations R, W, E or RW, MULTI,
MAND and one type (STR INT UINT FLT BOOL OPQ TIME LNK CLNK JSN; none for
an executable), all from andlink.lwm2m.codes.  `obj` packs the rows into 4
bytes each (ID and flags, big-endian) beside a tuple of the names, so an
object costs one small tuple, one bytes and the names' tuple in RAM,
whatever number of rows it has.  A board or an OEM adds objects with their
own `obj(...)` and resources to an existing object with `extend(...)`, then
hands the result to the Store (store.Store(defs) / Store.define): the core
is not edited.

A definition is the tuple (oid, flags, name, version, table, names); use
the functions below rather than the indices.
"""

from andlink.lwm2m.codes import R, W, E, MULTI, MAND, rtype

_TYPES = ("", "String", "Integer", "Unsigned Integer", "Float", "Boolean", "Opaque", "Time", "Objlnk",
          "Corelnk", "JSON")


def obj(oid, name, flags, resources, ver="1.0"):
    """An object definition from its resource rows."""
    tab = bytearray(4 * len(resources))
    names = []
    i = 0
    for rid, nm, f in resources:
        if not 0 <= rid <= 65534 or not 0 <= f <= 0xFFFF:
            raise ValueError("bad row %r" % ((rid, nm, f),))
        for j in range(0, i, 4):
            if tab[j] << 8 | tab[j + 1] == rid:
                raise ValueError("resource %d twice in object %d" % (rid, oid))
        tab[i] = rid >> 8
        tab[i + 1] = rid & 255
        tab[i + 2] = f >> 8
        tab[i + 3] = f & 255
        names.append(nm)
        i += 4
    return (oid, flags, name, ver, bytes(tab), tuple(names))


def oid(od):
    return od[0]


def oflags(od):
    return od[1]


def name(od):
    return od[2]


def version(od):
    return od[3]


def rflags(od, rid):
    """The flags of resource `rid`, -1 if the object has no such resource."""
    t = od[4]
    hi, lo = rid >> 8, rid & 255
    for i in range(0, len(t), 4):
        if t[i + 1] == lo and t[i] == hi:
            return t[i + 2] << 8 | t[i + 3]
    return -1


def rids(od):
    """The resource IDs in table order."""
    t = od[4]
    return [t[i] << 8 | t[i + 1] for i in range(0, len(t), 4)]


def rows(od):
    """[(rid, name, flags)], the rows as declared."""
    t = od[4]
    return [(t[i] << 8 | t[i + 1], od[5][i >> 2], t[i + 2] << 8 | t[i + 3]) for i in range(0, len(t), 4)]


def rname(od, rid):
    for r, nm, _ in rows(od):
        if r == rid:
            return nm
    return None


def extend(od, resources, ver=None):
    """A new definition of the same object with `resources` rows added (a
    row with an existing ID replaces it); `ver` a new version if given."""
    mine = [r for r in rows(od)]
    for row in resources:
        mine = [r for r in mine if r[0] != row[0]]
        mine.append(row)
    return obj(od[0], od[2], od[1], tuple(mine), ver or od[3])


def ops_str(flags):
    """'R', 'W', 'RW', 'E' or '' (a resource only the Bootstrap-Server writes)."""
    return ("R" if flags & R else "") + ("W" if flags & W else "") + ("E" if flags & E else "")


def describe(od):
    """The object as text lines: for docs, logs and the console."""
    f = od[1]
    out = ["%d %s v%s %s %s" % (od[0], od[2], od[3], "Multiple" if f & MULTI else "Single",
                                "Mandatory" if f & MAND else "Optional")]
    for rid, nm, rf in rows(od):
        out.append("  %d %s %s %s %s %s" % (rid, nm, ops_str(rf) or "-", "Multiple" if rf & MULTI else "Single",
                                          "Mandatory" if rf & MAND else "Optional", _TYPES[rtype(rf)]))
    return out
