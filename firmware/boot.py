"""Runs before main.py at every start, frozen as boot.py: a production image
switches Ctrl-C off at once (micropython.kbd_intr(-1)), so no byte on the REPL
line can interrupt the start of main.py.  Whatever goes wrong here is left to
main.py (which resets the board on any escape)."""

try:
    import board
    if getattr(board, "PRODUCTION", True):
        import micropython
        micropython.kbd_intr(-1)
except BaseException:
    pass
