"""The location encoder (FLAVARS / SatCLIP): geotagged embeddings, training, export."""
