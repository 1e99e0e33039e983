"""Entry point for ``python -m dhmad_async``."""

import sys

from dhmad_async._cli import main

sys.exit(main())
