"""`python -m wmmp_app`: the `wmmp-app` command (cli.py)."""
import sys

from wmmp_app.cli import main

sys.exit(main())
