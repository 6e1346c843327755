"""The run's embedding store: in memory below a size, a deleted-on-exit temp file above it."""

import numpy as np

from terralens.plugin.core.embedding_store import EmbeddingStore


def test_in_memory_and_on_disk_hold_the_same(tmp_path):
    batches = [np.random.default_rng(n).standard_normal((5, 4)).astype(np.float32)
               for n in range(3)]
    with EmbeddingStore(20, 4) as memory, EmbeddingStore(20, 4, memory_bytes=0,
                                                         folder=tmp_path) as disk:
        for batch in batches:
            memory.add(batch)
            disk.add(batch)
        assert not memory.on_disk and disk.on_disk and len(list(tmp_path.iterdir())) == 1
        expected = np.concatenate(batches).astype(np.float16)
        np.testing.assert_array_equal(memory.array(), expected)
        np.testing.assert_array_equal(disk.array(), expected)
        assert disk.array().dtype == np.float16 and disk.count == 15
    assert list(tmp_path.iterdir()) == []
