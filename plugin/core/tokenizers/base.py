"""What every TerraLens tokenizer shares: the empty-prompt check and batch padding."""

import numpy as np


class EmptyPromptError(ValueError):
    """A prompt holds no words, so there is nothing to embed."""


def check_prompt(text):
    """Return `text` if it holds something besides whitespace, else raise `EmptyPromptError`."""
    if not isinstance(text, str):
        raise TypeError(f"a prompt must be a str, not {type(text).__name__}")
    if not text.strip():
        raise EmptyPromptError("the prompt is empty: type some words")
    return text


class Tokenizer:
    """Base class: subclasses set `context_length` and implement `encode`."""

    context_length = 0

    def encode(self, text):
        """Token ids of one text, with its special tokens, truncated but not padded."""
        raise NotImplementedError

    def attention_mask(self, ids):
        """1 for every real token of an unpadded id list (pads are appended after it)."""
        return [1] * len(ids)

    def encode_batch(self, texts):
        """Encode texts into zero-padded arrays.

        Args:
            texts: a list of prompts (a single str is taken as a list of one).

        Returns:
            (input_ids, attention_mask): int64 arrays of shape (len(texts), context_length).
        """
        if isinstance(texts, str):
            texts = [texts]
        input_ids = np.zeros((len(texts), self.context_length), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, text in enumerate(texts):
            ids = self.encode(text)
            input_ids[row, :len(ids)] = ids
            mask[row, :len(ids)] = self.attention_mask(ids)
        return input_ids, mask
