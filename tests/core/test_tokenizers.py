"""The pure-Python tokenizers against golden ids from the reference tokenizers."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from terralens.plugin.core.bundle import BUILTIN_VOCAB_DIR, Bundle
from terralens.plugin.core.tokenizers import (
    ClipBpeTokenizer,
    EmptyPromptError,
    WordPieceTokenizer,
    make_tokenizer,
)
from terralens.plugin.core.tokenizers.wordpiece import normalize

GOLDEN_PATH = Path(__file__).resolve().parent.parent / "data" / "tokenizer_golden.json"
CLS, SEP, SOT, EOT = 101, 102, 49406, 49407


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def wordpiece(golden):
    return WordPieceTokenizer(BUILTIN_VOCAB_DIR / "vocab.txt", golden["wordpiece_context_length"])


@pytest.fixture(scope="module")
def clip(golden):
    return ClipBpeTokenizer(BUILTIN_VOCAB_DIR / "bpe_simple_vocab_16e6.txt.gz",
                            golden["clip_context_length"])


def _mismatches(tokenizer, texts, expected):
    found = [(text, tokenizer.encode(text), ids) for text, ids in zip(texts, expected)]
    return [case for case in found if case[1] != case[2]]


def test_golden_file_is_real_and_small(golden):
    assert GOLDEN_PATH.stat().st_size < 2_000_000
    assert len(golden["texts"]) == len(golden["wordpiece"]) == len(golden["clip"])
    assert len(golden["texts"]) >= 2500  # at least 2,000 captions plus edge cases and fuzz
    assert "Café São Paulo" in golden["texts"]


def test_wordpiece_matches_reference_ids(golden, wordpiece):
    bad = _mismatches(wordpiece, golden["texts"], golden["wordpiece"])
    assert not bad, f"{len(bad)} texts differ, first: {bad[:3]}"


def test_clip_matches_reference_ids(golden, clip):
    bad = _mismatches(clip, golden["texts"], golden["clip"])
    assert not bad, f"{len(bad)} texts differ, first: {bad[:3]}"


@pytest.mark.parametrize("name, pad_mask_is_zero_id", [("wordpiece", False), ("clip", True)])
def test_encode_batch_pads_and_masks(golden, wordpiece, clip, name, pad_mask_is_zero_id):
    tokenizer = {"wordpiece": wordpiece, "clip": clip}[name]
    texts, expected = golden["texts"][:300], golden[name][:300]
    ids, mask = tokenizer.encode_batch(texts)
    assert ids.shape == mask.shape == (300, tokenizer.context_length)
    assert ids.dtype == mask.dtype == np.int64
    for row, want in enumerate(expected):
        assert ids[row, :len(want)].tolist() == want
        assert not ids[row, len(want):].any()
        if pad_mask_is_zero_id:
            assert mask[row].tolist() == (ids[row] != 0).astype(int).tolist()
        else:
            assert mask[row].tolist() == [1] * len(want) + [0] * (ids.shape[1] - len(want))


def test_truncation_keeps_the_end_token_last(wordpiece, clip):
    text = " ".join(["runway"] * 500)
    pieces, tokens = wordpiece.encode(text), clip.encode(text)
    assert len(pieces) == 64 and pieces[0] == CLS and pieces[-1] == SEP
    assert len(tokens) == 77 and tokens[0] == SOT and tokens[-1] == EOT
    ids, mask = clip.encode_batch([text, "runway"])
    assert mask[0].all() and ids[0, -1] == EOT and ids[1].tolist()[:3] == [SOT, ids[0, 1], EOT]


def test_clip_mask_is_zero_where_the_id_is_zero(clip):
    ids, mask = clip.encode_batch(["!~"])  # "!" inside a word is id 0 in CLIP's vocabulary
    assert ids[0, :4].tolist() == [SOT, 0, 349, EOT]
    assert mask[0, :4].tolist() == [1, 0, 1, 1]


@pytest.mark.parametrize("text", ["", " ", "  \t\n ", "\u3000"])
def test_empty_prompt_is_refused(wordpiece, clip, text):
    for tokenizer in (wordpiece, clip):
        with pytest.raises(EmptyPromptError, match="the prompt is empty: type some words"):
            tokenizer.encode(text)
        with pytest.raises(ValueError):
            tokenizer.encode_batch(["forest", text])


def test_cased_wordpiece_keeps_case_and_accents():
    assert normalize("Café ΣΑΣ", lower_case=False) == "Café ΣΑΣ"
    assert normalize("Café ΣΑΣ", lower_case=True) == "cafe σασ"


def _bundle(tokenizer, vocab_file, context_length):
    data = {"schema_version": 1, "id": f"test-{tokenizer}", "embedding_dim": 8,
            "logit_scale": 100.0, "image": {},
            "text": {"tokenizer": tokenizer, "vocab_file": vocab_file,
                     "context_length": context_length}}
    return Bundle.from_dict(data, folder=Path("/nonexistent"))


def test_make_tokenizer_picks_by_bundle_type():
    wordpiece = make_tokenizer(_bundle("wordpiece", "builtin:vocab.txt", 32))
    clip = make_tokenizer(_bundle("clip_bpe", "builtin:bpe_simple_vocab_16e6.txt.gz", 77))
    assert isinstance(wordpiece, WordPieceTokenizer) and wordpiece.context_length == 32
    assert isinstance(clip, ClipBpeTokenizer) and clip.context_length == 77
    assert wordpiece.encode_batch(["a dense forest"])[0].shape == (1, 32)
    assert clip.encode("a dense forest")[0] == SOT


def test_make_tokenizer_names_a_missing_vocabulary():
    with pytest.raises(ValueError, match="does not exist"):
        make_tokenizer(_bundle("wordpiece", "vocab_not_there.txt", 64))


def test_tokenizer_speed_sanity(golden, wordpiece, clip):
    """Not a timed assertion: prints prompts per second on real captions, cache cleared."""
    texts = golden["texts"][:2000]
    for tokenizer in (WordPieceTokenizer(BUILTIN_VOCAB_DIR / "vocab.txt"),
                      ClipBpeTokenizer(BUILTIN_VOCAB_DIR / "bpe_simple_vocab_16e6.txt.gz")):
        start = time.perf_counter()
        ids, _ = tokenizer.encode_batch(texts)
        seconds = time.perf_counter() - start
        print(f"{type(tokenizer).__name__}: {len(texts) / seconds:,.0f} prompts/s (cold cache)")
        assert ids.shape[0] == len(texts)
