"""Format converters to and from the canonical KeypointDataset."""
