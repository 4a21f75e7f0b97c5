import sys

from graphc.cli import entry

sys.exit(entry())
