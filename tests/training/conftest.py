"""Fixtures shared by the training tests of more than one subpackage."""

import pytest


@pytest.fixture(scope="session")
def tiny_vit():
    """A tiny open_clip ViT config (2 layers, 64 px, 32-d embeddings) for custom-model tests."""
    return {"embed_dim": 32,
            "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16,
                           "head_width": 32},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2,
                         "layers": 2}}
