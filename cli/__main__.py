"""`python -m cli` runs `mc`."""

import sys

from cli.entry import main

sys.exit(main())
