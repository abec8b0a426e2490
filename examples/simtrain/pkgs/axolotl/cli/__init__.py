"""axolotl CLI modules (simtrain's stand-in): `python -m axolotl.cli.train CONFIG` and
`python -m axolotl.cli.main train CONFIG`."""
