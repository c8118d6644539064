"""Training: the heatmap loss, the callbacks that validate and checkpoint, and the trainer that runs them."""
