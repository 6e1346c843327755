"""Pure-Python tokenizers that match the reference ones id for id; `make_tokenizer` picks one."""

from .base import EmptyPromptError, Tokenizer, check_prompt
from .clip_bpe import ClipBpeTokenizer
from .wordpiece import WordPieceTokenizer

__all__ = ["ClipBpeTokenizer", "EmptyPromptError", "Tokenizer", "WordPieceTokenizer",
           "check_prompt", "make_tokenizer"]


def make_tokenizer(bundle):
    """The tokenizer a model bundle's text encoder was trained with.

    Args:
        bundle: a `Bundle`; its `text.tokenizer` ("wordpiece" or "clip_bpe"),
            `text.context_length`, `text.lower_case` and `vocab_path()` are used.

    Returns:
        A `WordPieceTokenizer` or `ClipBpeTokenizer`.

    Raises:
        ValueError: the tokenizer type is unknown or its vocabulary file is missing or bad.
    """
    text = bundle.text
    path = bundle.vocab_path()
    if not path.is_file():
        raise ValueError(f"model bundle {bundle.id!r} names the tokenizer vocabulary "
                         f"{text.vocab_file!r}, but {path} does not exist: re-export the bundle")
    if text.tokenizer == "wordpiece":
        return WordPieceTokenizer(path, text.context_length, text.lower_case)
    if text.tokenizer == "clip_bpe":
        if not text.lower_case:
            raise ValueError(f"model bundle {bundle.id!r}: the CLIP BPE tokenizer always "
                             "lower-cases; set text.lower_case to true")
        return ClipBpeTokenizer(path, text.context_length)
    raise ValueError(f"model bundle {bundle.id!r} uses the tokenizer {text.tokenizer!r}; "
                     "TerraLens knows 'wordpiece' and 'clip_bpe'")
