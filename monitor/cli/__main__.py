"""`python -m tagwatch.monitor.cli`, as before the commands became a package."""

from tagwatch.monitor.cli import main

main()
