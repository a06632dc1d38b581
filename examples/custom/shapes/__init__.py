"""A small user project for raynn: its own data set, model and transform (see ../README.md or raynn's README)."""
