"""``python -m qtopo``: the same as the ``qtopo`` command."""
from qtopo.cli import main

main(prog_name="qtopo")
