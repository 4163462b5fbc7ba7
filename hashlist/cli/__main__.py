"""``python -m hashlist.cli``: what the demo and the tests start as real processes."""

import sys

from hashlist.cli import main

sys.exit(main())
