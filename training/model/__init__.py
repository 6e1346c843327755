"""The default TerraLens encoders: the open_clip model, its attention pool, its checkpoints."""
