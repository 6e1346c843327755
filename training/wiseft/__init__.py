"""Robust fine-tuning (WiSE-FT): fine-tune, mix the weights with the start, evaluate in torch."""
