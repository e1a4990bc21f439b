"""`python -m advlab` is the `advlab` command (torchrun starts it so: `torchrun ... -m advlab gan train ...`)."""

import sys

from advlab.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
