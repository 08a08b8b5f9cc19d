"""The code tables of appendix G and E are split for RAM (lib/wmmp/wire/codes.py,
codebook.py): codes.py holds only the codes firmware modules read from it,
codebook.py the rest, reached as attributes of wmmp.wire.codes (its module
__getattr__) by tools and tests; a code only one module reads is a private
`_NAME = const(...)` copy there.  Checked here: nothing is lost or defined
twice, every private copy has the table's value, and no firmware module reads
a codebook name through codes (that would load the codebook on a device)."""
import ast
import os

from wmmp.wire import codes as K

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib", "wmmp")
WIRE = os.path.join(LIB, "wire")


def _consts(path):
    """{NAME: value} of the module's top-level `NAME = const(int)` lines."""
    out = {}
    for node in ast.parse(open(path).read()).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "const"):
            out[node.targets[0].id] = ast.literal_eval(node.value.args[0])
    return out


CODES = _consts(os.path.join(WIRE, "codes.py"))
BOOK = _consts(os.path.join(WIRE, "codebook.py"))
TABLE = dict(CODES, **BOOK)


def _lib_modules():
    for d, _, files in os.walk(LIB):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(d, f), LIB), os.path.join(d, f)


def _codes_reads(tree):
    """Names read as <alias of wmmp.wire.codes>.NAME in a module."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "wmmp.wire":
            aliases.update(a.asname or a.name for a in node.names if a.name == "codes")
    return set(node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and isinstance(node.value, ast.Name) and node.value.id in aliases)


def test_the_two_tables_are_disjoint_and_complete():
    assert len(CODES) > 20 and len(BOOK) > 100
    assert not set(CODES) & set(BOOK), sorted(set(CODES) & set(BOOK))
    # appendix G a: REGISTER_ACK 0x00-0x13, all named, wherever they sit
    assert sorted(v for n, v in TABLE.items() if n.startswith("REG_ACK_")) == list(range(0x14))
    # appendix E e: alarm codes 0x0001-0x001C (0x300D), besides the types and states
    alarms = [v for n, v in TABLE.items() if n.startswith("ALARM_") and not n.startswith(("ALARM_TYPE_",
                                                                                          "ALARM_STATUS_"))]
    assert sorted(alarms) == list(range(1, 0x1D))


def test_every_code_is_an_attribute_of_codes():
    for name, value in TABLE.items():
        assert getattr(K, name) == value, name
    from wmmp.wire.codes import REG_ACK_BAD_IMSI, LOGOUT_NORMAL     # from-imports too (PEP 562)
    assert (REG_ACK_BAD_IMSI, LOGOUT_NORMAL) == (0x03, 0x00)
    assert not hasattr(K, "NO_SUCH_CODE")


def test_private_copies_match_the_table():
    copies = 0
    for rel, path in _lib_modules():
        if rel in ("wire/codes.py", "wire/codebook.py"):
            continue
        for name, value in _consts(path).items():
            if name.startswith("_") and name[1:] in TABLE:
                assert value == TABLE[name[1:]], "%s: %s = %r, the table says %r" % (rel, name, value,
                                                                                     TABLE[name[1:]])
                assert name[1:] not in CODES, "%s keeps a copy of %s, which codes.py holds" % (rel, name)
                copies += 1
    assert copies >= 40


def test_firmware_reads_only_codes_py_names_and_never_imports_the_codebook():
    read = set()
    for rel, path in _lib_modules():
        tree = ast.parse(open(path).read())
        if rel != "wire/codes.py":
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and "codebook" in (
                        [node.module.rsplit(".", 1)[-1]] + [a.name for a in node.names]):
                    raise AssertionError("%s imports wmmp.wire.codebook" % rel)
        names = _codes_reads(tree)
        lazy = sorted(names - set(CODES))
        assert not lazy, "%s reads %s through wmmp.wire.codes: not in codes.py, so a device would " \
                         "load the codebook (add a private const, or move the code to codes.py)" % (rel, lazy)
        read |= names
    # and codes.py holds nothing the firmware does not read from it
    assert sorted(set(CODES) - read) == []
