"""Training objectives: contrastive, masked image modelling and location losses."""
