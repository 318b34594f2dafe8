import sys

from clinvk.app import main

sys.exit(main())
