"""Running the network: checkpoints, summaries, training and inference."""
