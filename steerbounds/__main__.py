import sys

from steerbounds.cli import main

sys.exit(main())
