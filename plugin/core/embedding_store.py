"""Float16 embeddings of all the tiles of a run: in memory, or in a memory-mapped temp file."""

import shutil
import tempfile
from pathlib import Path

import numpy as np

# Up to this size the embeddings stay in memory (256 MB: about 333,000 tiles of 384 numbers);
# above it they go to a temporary file that the operating system pages in and out.
MEMORY_BYTES = 256 * 1024 * 1024


class EmbeddingStore:
    """Room for up to `capacity` embeddings of `dim` numbers, filled batch by batch.

    Use it as a context manager: the temporary file (if any) is deleted on exit.
    """

    def __init__(self, capacity, dim, memory_bytes=MEMORY_BYTES, folder=None):
        self.count = 0
        self._folder = None
        shape = (max(0, int(capacity)), int(dim))
        if shape[0] * shape[1] * 2 <= memory_bytes:
            self._array = np.empty(shape, np.float16)
        else:
            self._folder = Path(tempfile.mkdtemp(prefix="terralens-embeddings-", dir=folder))
            self._array = np.lib.format.open_memmap(self._folder / "embeddings.npy", mode="w+",
                                                    dtype=np.float16, shape=shape)

    @property
    def on_disk(self):
        return self._folder is not None

    def add(self, embeddings):
        """Append a (tiles, dim) batch (converted to float16)."""
        embeddings = np.asarray(embeddings)
        self._array[self.count:self.count + len(embeddings)] = embeddings
        self.count += len(embeddings)

    def array(self):
        """The (count, dim) float16 embeddings added so far (a view, not a copy)."""
        return self._array[:self.count]

    def close(self):
        """Drop the array and delete the temporary file, if any."""
        self._array = np.zeros((0, self._array.shape[1]), np.float16)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
