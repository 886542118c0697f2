"""`python -m tanpuhui` = the `tanpuhui` command."""

from tanpuhui.cli.main import main

main()
