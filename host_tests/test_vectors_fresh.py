"""The committed vectors (host_tests/portable/vectors/*.json) are exactly what the
independent builder host_tests/vectors_build.py writes, so the JSON cannot drift
from it (CPython only: the builder needs pycryptodome)."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BUILDER = os.path.join(HERE, "vectors_build.py")
VECTORS = os.path.join(HERE, "portable", "vectors")


def _run(*args):
    return subprocess.run([sys.executable, BUILDER] + list(args), capture_output=True, text=True,
                          timeout=300, cwd=os.path.dirname(HERE))


def test_committed_vectors_are_fresh():
    """vectors_build.py --check exits 0: every committed file equals a fresh build."""
    p = _run("--check")
    assert p.returncode == 0, p.stdout + p.stderr


def test_check_detects_drift(tmp_path):
    """--check exits 1 when one byte of a vector file differs from the build."""
    d = str(tmp_path / "vectors")
    shutil.copytree(VECTORS, d)
    assert _run("--check", "--dir", d).returncode == 0
    path = os.path.join(d, "good_01.json")
    with open(path) as f:
        text = f.read()
    i = text.index('"hex": "') + 8
    text = text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:]
    with open(path, "w") as f:
        f.write(text)
    p = _run("--check", "--dir", d)
    assert p.returncode == 1 and "good_01.json" in p.stdout, p.stdout + p.stderr
    # A file the builder does not write is stale too.
    os.remove(path)
    shutil.copy(os.path.join(VECTORS, "good_01.json"), path)
    assert _run("--check", "--dir", d).returncode == 0
    shutil.copy(path, os.path.join(d, "extra.json"))
    p = _run("--check", "--dir", d)
    assert p.returncode == 1 and "extra.json" in p.stdout, p.stdout + p.stderr


def test_vector_files_fit_the_device_heap():
    """Each file is loaded alone on a 64 KiB MicroPython heap: keep each small."""
    names = sorted(n for n in os.listdir(VECTORS) if n.endswith(".json"))
    assert "messages.json" in names and "bad.json" in names
    for n in names:
        assert os.path.getsize(os.path.join(VECTORS, n)) < 60 * 1024, n
