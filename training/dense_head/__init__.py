"""A dense head trained on attention pseudo-labels (RS-WebLI), and its before/after figures."""
