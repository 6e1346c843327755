"""`ftfy.fix_text` (6.x, default settings) as CLIP's tokenizer uses it, with the stdlib only.

Reproduced exactly: HTML entities (ftfy's own table, skipped from the first line holding "<"
on, as ftfy does), C1 control characters read as Windows-1252, Latin ligatures, full- and
half-width forms, curly quotes, line breaks, surrogates, terminal colour codes, unwanted
control characters and NFC, repeated until the text stops changing, line by line.

Not reproduced: ftfy's mojibake repair (`fix_encoding`), which guesses from a "badness"
heuristic that text such as "cafÃ©" was UTF-8 read in the wrong code page and re-decodes it.
Text typed into QGIS seldom comes through a wrong code page; where ftfy would re-decode it
(also for a few ordinary strings such as "Â is a letter"), the tokens differ.
"""

import html
import html.entities
import re
import unicodedata

MAX_SEGMENT = 1_000_000  # ftfy's `max_decode_length`
_ENTITY = re.compile(r"&#?[0-9A-Za-z]{1,24};")
_ANSI_ESCAPE = re.compile("\033\\[((?:\\d|;)*)([a-zA-Z])")
_C1_CONTROL = re.compile("[\x80-\x9f]")
_SINGLE_QUOTES = re.compile("[\u02bc\u2018-\u201b]")
_DOUBLE_QUOTES = re.compile("[\u201c-\u201f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LIGATURES = str.maketrans({
    "Ĳ": "IJ", "ĳ": "ij", "ŉ": "ʼn", "Ǳ": "DZ", "ǲ": "Dz", "ǳ": "dz", "Ǆ": "DŽ", "ǅ": "Dž",
    "ǆ": "dž", "Ǉ": "LJ", "ǈ": "Lj", "ǉ": "lj", "Ǌ": "NJ", "ǋ": "Nj", "ǌ": "nj", "ﬀ": "ff",
    "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "ſt", "ﬆ": "st",
})
_CONTROL_CHARS = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, *range(0x206A, 0x2070), 0xFEFF,
     *range(0xFFF9, 0xFFFD)])


def _build_entities():
    entities = {}
    for name, char in html.entities.html5.items():
        if name.endswith(";"):
            entities["&" + name] = char
            # ftfy also reads all-caps spellings ("&EACUTE;") where they are unambiguous.
            if name == name.lower():
                upper = "&" + name.upper()
                if html.unescape(upper) == upper:
                    entities[upper] = char.upper()
    return entities


def _build_width_map():
    width_map = {0x3000: " "}
    for code in range(0xFF01, 0xFFF0):
        alternate = unicodedata.normalize("NFKC", chr(code))
        if alternate != chr(code):
            width_map[code] = alternate
    return width_map


_ENTITIES = _build_entities()
_WIDTH_MAP = _build_width_map()


def _unescape_entity(match):
    text = match.group(0)
    if text in _ENTITIES:
        return _ENTITIES[text]
    if text.startswith("&#"):
        unescaped = html.unescape(text)
        return text if ";" in unescaped else unescaped
    return text


def _c1_as_cp1252(match):
    byte = match.group(0).encode("latin-1")
    try:
        return byte.decode("cp1252")
    except UnicodeDecodeError:  # the five holes of cp1252 stay as they are ("sloppy" codec)
        return match.group(0)


def _pair_to_char(match):
    high, low = match.group(0)
    return chr(0x10000 + (ord(high) - 0xD800) * 0x400 + (ord(low) - 0xDC00))


def _fix_once(text, unescape):
    if unescape:
        text = _ENTITY.sub(_unescape_entity, text)
    text = _C1_CONTROL.sub(_c1_as_cp1252, text)
    text = text.translate(_LIGATURES).translate(_WIDTH_MAP)
    text = _SINGLE_QUOTES.sub("'", _DOUBLE_QUOTES.sub('"', text))
    for line_break in ("\r\n", "\r", "\u2028", "\u2029", "\u0085"):
        text = text.replace(line_break, "\n")
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", _SURROGATE_PAIR.sub(_pair_to_char, text))
    text = _ANSI_ESCAPE.sub("", text).translate(_CONTROL_CHARS)
    return unicodedata.normalize("NFC", text)


def _fix_segment(text, unescape):
    while True:
        fixed = _fix_once(text, unescape)
        if fixed == text:
            return fixed
        text = fixed


def fix_text(text):
    """Fix `text` as `ftfy.fix_text(text)` does, except for mojibake (see the module doc)."""
    out, pos, unescape = [], 0, True
    while pos < len(text):
        end = text.find("\n", pos) + 1 or len(text)
        end = min(end, pos + MAX_SEGMENT)
        segment = text[pos:end]
        # ftfy stops decoding entities once a segment looks like HTML, for the rest of the text.
        unescape = unescape and "<" not in segment
        out.append(_fix_segment(segment, unescape))
        pos = end
    return "".join(out)
