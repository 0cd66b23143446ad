"""A module whose import ends the process (exit 7): a template that cannot start."""

import os

os._exit(7)
