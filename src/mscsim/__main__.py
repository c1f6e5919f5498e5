"""Allow ``python -m mscsim``."""

from mscsim.cli.main import main

main()
