"""simtrain's torchtune install: `recipes`, the package torchtune installs next to `torchtune` (its pyproject.toml:
packages torchtune* and recipes*, package data recipes/configs/*.yaml), holding the registry configs in
recipes/configs/ that `tune run --config NAME` reads (torchtune/_cli/run.py: ROOT / "recipes" / "configs").

Put examples/simtrain/pkgs on PYTHONPATH for the job's Python to find it, as it finds an installed torchtune's.
Like torchtune's own (pytorch/torchtune recipes/__init__.py, commit 8bc40c0a71d518acc9a79178905883ae2e007c6e), it is
not to be imported. See examples/simtrain/README.md, "tune (torchtune)".
"""

raise ModuleNotFoundError(
    "The torchtune recipes directory isn't a package and you should not import anything from here. "
    "Refer to our docs for detailed instructions on how to use recipes: "
    "https://pytorch.org/torchtune/main/deep_dives/recipe_deepdive.html"
)
