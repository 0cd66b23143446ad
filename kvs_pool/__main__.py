"""``python -m kvs_pool`` runs the CLI."""

import sys

from kvs_pool.cli import main

sys.exit(main())
