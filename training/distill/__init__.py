"""Band adapters for other sensors, distilled into the frozen RGB encoder, and their export."""
