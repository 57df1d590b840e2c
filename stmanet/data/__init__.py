"""Video decoding, clip sampling, transforms and data set sources."""
