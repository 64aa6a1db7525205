"""`python -m pst.cli` (torchrun's entry): the `pst` command."""
from pst.cli import run

run()
