"""`python -m attentext` (what `torchrun -m attentext train ...` runs)."""

from attentext.cli.app import main

main()
