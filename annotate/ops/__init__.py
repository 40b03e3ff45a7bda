"""Dataset operations before training, over the one dataset model: stats, filter, merge, split,
compare. Each reads and writes through :mod:`converters.formats` as ``annotate convert`` does."""
