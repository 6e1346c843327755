"""BERT WordPiece tokenizer in pure Python, id for id with Hugging Face `tokenizers`.

It reproduces the pipeline of a `BertWordPieceTokenizer` / BERT `tokenizer.json` (the MiniLM-L6
text tower's): special tokens written in the text ("[MASK]") are kept whole; the
`BertNormalizer` drops NUL, U+FFFD and control characters, turns whitespace into spaces, puts
spaces around CJK ideographs, strips accents (NFD, then drops non-spacing marks) and lower-cases;
the `BertPreTokenizer` splits on whitespace and isolates punctuation; WordPiece then matches the
longest vocabulary entry first ("##" marks a word's continuation) and turns a word it cannot
cover, or one over 100 characters, into [UNK]. [CLS] and [SEP] wrap the result, which is
truncated to `context_length` with [SEP] kept last.

Known differences: `tokenizers` classifies characters with the Unicode tables of the Rust
`unicode_categories` crate (Unicode 8-9 era) and lower-cases with Rust's current tables, while
this module asks Python's `unicodedata`. The characters on which they disagree, for Python's
Unicode 14 (3.11) up to Unicode 17, are listed in `_unicode_quirks.py`, made by probing the
reference on every code point. What can still differ: characters assigned after Unicode 17,
letters of Unicode 15-17 that the running Python's `str.lower` does not know yet, and, on
Pythons older than 3.11, characters of Unicode 14. A sweep of every code point in context
(`python -m training golden-tokens --sweep`) finds no difference under Python 3.11.
"""

import unicodedata
from functools import lru_cache
from pathlib import Path

from . import _unicode_quirks as quirks
from .base import Tokenizer, check_prompt

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_WORD_CHARS = 100  # tokenizers' `max_input_chars_per_word`
_CONTINUATION = "##"
# CJK ranges as written in tokenizers' BertNormalizer, whose 0x2B920 (BERT's Python has
# 0x2B820) is kept on purpose so that the ids match.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def load_vocab(path):
    """Read a BERT `vocab.txt` (one token a line, id = line number) into {token: id}."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {token: index for index, token in enumerate(lines)}  # a repeated token: last wins
    missing = [t for t in ("[UNK]", "[CLS]", "[SEP]") if t not in vocab]
    if missing:
        raise ValueError(f"{path} is not a BERT vocabulary: it lacks {', '.join(missing)}")
    return vocab


def _is_cjk(code):
    return any(low <= code <= high for low, high in _CJK_RANGES)


@lru_cache(maxsize=4096)
def _char_role(char):
    """How the normalizer treats one character: 'drop', 'space', 'cjk' or 'keep'."""
    code = ord(char)
    if code in (0, 0xFFFD) or _is_control(char):
        return "drop"
    if char in "\t\n\r" or char.isspace():
        return "space"
    return "cjk" if _is_cjk(code) else "keep"


def _is_control(char):
    """tokenizers' `is_control`: categories Cc, Cf, Co, Cs, but not tab or line breaks."""
    if char in "\t\n\r":
        return False
    in_python = unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs")
    return _as_reference(ord(char), in_python, quirks.BERT_OTHER_EXTRA, quirks.BERT_OTHER_MISSING)


def _is_nonspacing_mark(char):
    in_python = unicodedata.category(char) == "Mn"
    return _as_reference(ord(char), in_python, quirks.BERT_MARK_EXTRA, quirks.BERT_MARK_MISSING)


@lru_cache(maxsize=4096)
def _is_punctuation(char):
    """tokenizers' `is_punctuation`: any ASCII symbol or a Unicode punctuation category."""
    code = ord(char)
    in_python = (33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
                 or unicodedata.category(char).startswith("P"))
    return _as_reference(code, in_python, quirks.BERT_PUNCT_EXTRA, quirks.BERT_PUNCT_MISSING)


def _as_reference(code, in_python, extra, missing):
    """Python's answer, corrected where the reference's older Unicode tables say otherwise."""
    if in_python:
        return not quirks.in_ranges(code, missing)
    return quirks.in_ranges(code, extra)


def normalize(text, lower_case=True):
    """Apply the `BertNormalizer` (clean text, CJK spacing, accents and case when `lower_case`)."""
    pieces = []
    for char in text:
        role = _char_role(char)
        if role == "keep":
            pieces.append(char)
        elif role == "space":
            pieces.append(" ")
        elif role == "cjk":
            pieces.append(f" {char} ")
    text = "".join(pieces)
    if lower_case:  # tokenizers strips accents before lower-casing; the order matters
        text = "".join(c for c in unicodedata.normalize("NFD", text)
                       if not _is_nonspacing_mark(c))
        # Rust lower-cases char by char; Python's str.lower() would turn a word-final capital
        # sigma into "ς" where tokenizers gives "σ".
        text = "".join(map(str.lower, text)) if "Σ" in text else text.lower()
    return text


def pre_tokenize(text):
    """Split normalised text on whitespace and make every punctuation character a word."""
    words = []
    for chunk in text.split():
        start = 0
        for index, char in enumerate(chunk):
            if _is_punctuation(char):
                if index > start:
                    words.append(chunk[start:index])
                words.append(char)
                start = index + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


def split_special(text, specials=SPECIAL_TOKENS):
    """Split raw text around special tokens written in it, as the added-tokens pass does.

    Returns a list of (piece, is_special) in order.
    """
    parts = []
    start = index = 0
    while index < len(text):
        if text[index] == "[":
            match = next((s for s in specials if text.startswith(s, index)), None)
            if match:
                if index > start:
                    parts.append((text[start:index], False))
                parts.append((match, True))
                index = start = index + len(match)
                continue
        index += 1
    if start < len(text):
        parts.append((text[start:], False))
    return parts


class WordPieceTokenizer(Tokenizer):
    """BERT WordPiece tokenizer; `encode` gives [CLS] ... [SEP] ids, at most `context_length`."""

    def __init__(self, vocab_path, context_length=64, lower_case=True):
        if context_length < 2:
            raise ValueError("context_length must leave room for [CLS] and [SEP] (at least 2)")
        self.vocab = load_vocab(vocab_path)
        self.context_length = int(context_length)
        self.lower_case = bool(lower_case)
        self.unk_id = self.vocab["[UNK]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self._specials = tuple(t for t in SPECIAL_TOKENS if t in self.vocab)
        self._longest = max(len(token) for token in self.vocab)
        self._word_ids = lru_cache(maxsize=65536)(self._wordpiece)

    def tokenize_ids(self, text):
        """Ids of the text's words, without [CLS]/[SEP] and without truncation."""
        ids = []
        for piece, is_special in split_special(text, self._specials):
            if is_special:
                ids.append(self.vocab[piece])
                continue
            for word in pre_tokenize(normalize(piece, self.lower_case)):
                ids.extend(self._word_ids(word))
        return ids

    def encode(self, text):
        """[CLS] + word ids + [SEP], the words truncated so the whole fits `context_length`."""
        check_prompt(text)
        ids = self.tokenize_ids(text)[:self.context_length - 2]
        return [self.cls_id] + ids + [self.sep_id]

    def _wordpiece(self, word):
        """Greedy longest-match-first split of one word; [UNK] for the whole word on failure."""
        if len(word) > MAX_WORD_CHARS:
            return (self.unk_id,)
        ids, start = [], 0
        while start < len(word):
            prefix = _CONTINUATION if start else ""
            # No vocabulary entry is longer than `_longest`, so longer candidates cannot match.
            end = min(len(word), start + self._longest)
            while end > start and prefix + word[start:end] not in self.vocab:
                end -= 1
            if end == start:
                return (self.unk_id,)
            ids.append(self.vocab[prefix + word[start:end]])
            start = end
        return tuple(ids)
