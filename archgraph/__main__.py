"""`python -m archgraph ...` is the `archgraph` command."""

import sys

from archgraph.cli import main

sys.exit(main())
