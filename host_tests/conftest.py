"""pytest set-up: put lib/ and tools/ on sys.path so tests import the device code as is."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for p in (os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools"), os.path.join(HERE, "portable")):
    if p not in sys.path:
        sys.path.insert(0, p)
