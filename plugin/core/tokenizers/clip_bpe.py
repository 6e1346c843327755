"""CLIP's byte-level BPE tokenizer in pure Python, id for id with `open_clip.tokenize`.

It follows open_clip's default `SimpleTokenizer` (clean="lower"): ftfy's text fixes, HTML
unescaping (twice), whitespace collapsing and lower-casing; the split pattern
`<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+`
(case-insensitive); byte-to-unicode mapping and BPE merges; then <start_of_text> ... and
<end_of_text>, truncated to `context_length` with <end_of_text> kept last.

The QGIS Python has neither `regex` nor `ftfy`, so:
- `\\p{L}` and `\\p{N}` are read from `unicodedata` categories; letters and numbers that
  Unicode assigned after Python 3.11's Unicode 14 (up to Unicode 17, as `regex` knows them)
  come from `_unicode_quirks.py`. Characters assigned after that can still differ, and so can
  Unicode 14 characters on Pythons older than 3.11. The `regex` module's case-insensitive
  oddities are reproduced: "ſ" (long s) matches the "s" of "'s", and U+0345 (combining
  ypogegrammeni) matches no branch at all and is dropped.
- ftfy is emulated by `_textfix.py`, which reproduces everything but its mojibake repair (so
  "cafÃ©", or even "Â is a letter", which ftfy re-decodes, give other ids here).
"""

import gzip
import html
import unicodedata
from functools import lru_cache

from . import _unicode_quirks as quirks
from ._textfix import fix_text
from .base import Tokenizer, check_prompt

SOT, EOT = "<start_of_text>", "<end_of_text>"
_MERGE_COUNT = 49152 - 256 - 2  # open_clip reads the first 48,894 merges of the file
_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")
_NO_RANK = float("inf")
_UNMATCHED = "\u0345"  # matches none of the pattern's branches under regex's IGNORECASE


def bytes_to_unicode():
    """CLIP's reversible map from the 256 byte values to printable unicode characters."""
    byte_values = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                   + list(range(ord("®"), ord("ÿ") + 1)))
    chars = byte_values[:]
    extra = 0
    for byte in range(256):
        if byte not in byte_values:
            byte_values.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(byte_values, map(chr, chars)))


@lru_cache(maxsize=65536)
def char_class(char):
    """'L' letter, 'N' number, ' ' whitespace or 'O' anything else, as CLIP's pattern sees it."""
    category = unicodedata.category(char)
    if category == "Cn":  # unknown to this Python: ask the table of newer assignments
        code = ord(char)
        if quirks.in_ranges(code, quirks.CLIP_NEW_LETTERS):
            return "L"
        if quirks.in_ranges(code, quirks.CLIP_NEW_NUMBERS):
            return "N"
        return "O"
    if category[0] in "LN":
        return category[0]
    return " " if char.isspace() else "O"


def _fold(text):
    return text.replace("ſ", "s")  # the one non-ASCII letter that IGNORECASE folds onto 's'


def split_words(text):
    """Split cleaned text the way `regex.findall(pattern, text)` does in open_clip."""
    words, index, size = [], 0, len(text)
    while index < size:
        char = text[index]
        if char == "<":
            special = next((s for s in (SOT, EOT)
                            if _fold(text[index:index + len(s)]) == s), None)
            if special:
                words.append(text[index:index + len(special)])
                index += len(special)
                continue
        if char == "'":
            tail = _fold(text[index + 1:index + 3])
            suffix = next((s for s in _CONTRACTIONS if tail.startswith(s)), None)
            if suffix:
                words.append(text[index:index + 1 + len(suffix)])
                index += 1 + len(suffix)
                continue
        kind = char_class(char)
        if kind == " " or char == _UNMATCHED:
            index += 1
            continue
        end = index + 1
        if kind != "N":  # letters and "other" come in runs, numbers one digit at a time
            while end < size and char_class(text[end]) == kind and text[end] != _UNMATCHED:
                end += 1
        words.append(text[index:end])
        index = end
    return words


def clean_text(text):
    """open_clip's "lower" cleaning: ftfy, HTML unescape twice, collapse whitespace, lower."""
    text = html.unescape(html.unescape(fix_text(text))).strip()
    return " ".join(text.split()).lower()


def load_merges(path):
    """Read CLIP's gzipped merge list (a header line, then "first second" a line)."""
    try:
        lines = gzip.open(path).read().decode("utf-8").split("\n")
    except OSError as err:
        raise ValueError(f"cannot read the CLIP BPE vocabulary {path}: {err}") from None
    merges = [tuple(line.split()) for line in lines[1:_MERGE_COUNT + 1]]
    if len(merges) != _MERGE_COUNT or any(len(pair) != 2 for pair in merges):
        raise ValueError(f"{path} is not CLIP's bpe_simple_vocab_16e6.txt.gz merge list")
    return merges


class ClipBpeTokenizer(Tokenizer):
    """CLIP BPE tokenizer; `encode` gives <start_of_text> ... <end_of_text> ids."""

    def __init__(self, bpe_path, context_length=77):
        if context_length < 2:
            raise ValueError("context_length must leave room for the start and end tokens")
        merges = load_merges(bpe_path)
        self.byte_encoder = bytes_to_unicode()
        symbols = list(self.byte_encoder.values())
        vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
        vocab += [SOT, EOT]
        self.encoder = {token: index for index, token in enumerate(vocab)}
        self.bpe_ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.sot_id, self.eot_id = self.encoder[SOT], self.encoder[EOT]
        self.context_length = int(context_length)
        self._word_ids = lru_cache(maxsize=65536)(self._uncached_word_ids)

    def attention_mask(self, ids):
        """1 where the id is not 0, as the CLIP text towers of the bundles expect."""
        return [int(token != 0) for token in ids]

    def tokenize_ids(self, text):
        """BPE ids of the cleaned text, without start/end tokens and without truncation."""
        ids = []
        for word in split_words(clean_text(text)):
            ids.extend(self._word_ids(word))
        return ids

    def encode(self, text):
        """<start_of_text> + ids + <end_of_text>, cut to `context_length` with the end kept."""
        check_prompt(text)
        ids = [self.sot_id] + self.tokenize_ids(text) + [self.eot_id]
        if len(ids) > self.context_length:
            ids = ids[:self.context_length - 1] + [self.eot_id]
        return ids

    def _uncached_word_ids(self, word):
        if word in (SOT, EOT):  # open_clip's BPE cache returns its special tokens whole
            return (self.encoder[word],)
        symbols = "".join(self.byte_encoder[b] for b in word.encode("utf-8"))
        return tuple(self.encoder[piece] for piece in self.bpe(symbols))

    def bpe(self, symbols):
        """Merge the byte symbols of one word, lowest-ranked pair first; the last has "</w>"."""
        word = list(symbols[:-1]) + [symbols[-1] + "</w>"]
        ranks = self.bpe_ranks
        while len(word) > 1:
            best = min(zip(word, word[1:]), key=lambda pair: ranks.get(pair, _NO_RANK))
            if best not in ranks:
                break
            first, second = best
            merged, index = [], 0
            while index < len(word):
                if index + 1 < len(word) and word[index] == first and word[index + 1] == second:
                    merged.append(first + second)
                    index += 2
                else:
                    merged.append(word[index])
                    index += 1
            word = merged
        return word
