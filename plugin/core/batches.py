"""Encode a tiled raster batch by batch, reading the next batch in a thread meanwhile."""

import queue
import threading


def encoded_batches(tiled, model, control, dense=False):
    """Yield (windows, embeddings, dense or None) batch by batch, reporting progress.

    Tiles are read one batch ahead in a thread while the encoder runs, so reading and
    encoding overlap; at most two batches wait in memory.
    """
    encoder = tiled.encoder or model.image
    batches = tiled.source.iter_batches(tiled.tile_px, tiled.overlap_px, encoder.spec.size,
                                        tiled.settings.batch_size, windows=tiled.windows)
    read, kept = 0, 0
    for batch in read_ahead(batches, depth=2):
        control.check()
        if dense:
            embeddings, dense_maps = encoder.encode(batch.pixels)
        else:
            embeddings, dense_maps = encoder.encode_embeddings(batch.pixels), None
        read += batch.tiles_read
        kept += len(batch)
        control.report(read / max(1, tiled.windows_total), f"{read}/{tiled.windows_total} tiles")
        yield batch.windows, embeddings, dense_maps
    control.check()
    tiled.stats.update(tiles_total=tiled.windows_total, tiles_encoded=kept,
                       tiles_skipped=tiled.windows_total - kept)


def read_ahead(iterable, depth=2):
    """Iterate `iterable` in a background thread, keeping at most `depth` items ready."""
    items = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in iterable:
                if stop.is_set():
                    return
                items.put(item)
            items.put(done)
        except BaseException as err:  # hand the reader's error to the consumer
            items.put(err)

    thread = threading.Thread(target=produce, name="terralens-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
