# MicroPython freeze manifest (https://docs.micropython.org/en/latest/reference/manifest.html)
# for this board: the port's own frozen modules (asyncio among them), the whole
# wmmp and andlink packages (And-link runs when board.PROTOCOLS names it; frozen,
# it costs flash, not RAM, until then), this board's module (imported as
# `board`) and the firmware's boot.py / main.py (a frozen main.py runs in
# preference to one on the filesystem).  Relative paths are relative to this
# file.  Build: README.md here.
include("$(PORT_DIR)/boards/manifest.py")
package("wmmp", base_path="../../lib")
package("andlink", base_path="../../lib")
module("board.py")
module("boot.py", base_path="../../firmware")
module("main.py", base_path="../../firmware")
