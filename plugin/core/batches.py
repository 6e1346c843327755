"""Encode a tiled raster batch by batch, reading the next batch in a thread meanwhile."""

import queue
import threading

from .square_pixels import describe as squared_description


class EncodedBatches:
    """(windows, embeddings, dense or None) batch by batch, with progress; counts at the end.

    Tiles are read one batch ahead in a thread while the encoder runs, so reading and
    encoding overlap; at most two batches wait in memory. After the loop, `counts()` says how
    many tiles there were, how many were encoded, how many were skipped (nodata, or one value
    in every band: `tiles_flat`).
    """

    def __init__(self, tiled, model, control, dense=False):
        self.tiled = tiled
        self.encoder = tiled.encoder or model.image
        self.control = control
        self.dense = dense
        self.tiles_encoded = 0
        self.tiles_flat = 0

    def __iter__(self):
        tiled, encoder, control = self.tiled, self.encoder, self.control
        batches = tiled.source.iter_batches(tiled.tile_px, tiled.overlap_px, encoder.spec.size,
                                            tiled.settings.batch_size, windows=tiled.windows,
                                            on_flat=self._count_flat)
        read, self.tiles_encoded, self.tiles_flat = 0, 0, 0
        views = tiled.settings.views if not self.dense else 1
        announce_tiling(tiled, control, "Encoding", views)
        for batch in read_ahead(batches, depth=2):
            control.check()
            if self.dense:
                embeddings, dense_maps = encoder.encode(batch.pixels)
            else:
                embeddings = encoder.encode_embeddings(batch.pixels, views)
                dense_maps = None
            read += batch.tiles_read
            self.tiles_encoded += len(batch)
            control.report(read / max(1, tiled.windows_total))  # the bar, not the log
            yield batch.windows, embeddings, dense_maps
        control.check()
        flat, total = self.tiles_flat, tiled.windows_total
        if total and flat == total:  # not an error: a batch over many rasters goes on
            control.warn(f"every tile ({total}) shows one value in every band: there is no "
                         "detail to recognise (a blank raster, or one filled without a nodata "
                         "value); the result is empty")
        elif flat:
            control.warn(f"{tile_count(flat)} of {total} show one value in every band, with no "
                         "detail to recognise (often a border filled without a nodata value): "
                         "skipped like nodata")
        if not self.tiles_encoded and flat < total:
            control.warn(f"no tile has enough valid pixels (all {tiled.windows_total} are "
                         "nodata, show one value, or have less valid area than the threshold): "
                         "the result is empty; check the raster's nodata value or lower the "
                         "valid-area threshold")

    def counts(self):
        """{"tiles_total", "tiles_encoded", "tiles_skipped", "tiles_flat"} of the pass so far
        (skipped tiles include the flat ones)."""
        total = self.tiled.windows_total
        return {"tiles_total": total, "tiles_encoded": self.tiles_encoded,
                "tiles_skipped": total - self.tiles_encoded,
                "tiles_flat": self.tiles_flat}

    def _count_flat(self, window):
        """Called by the reader (its thread) for each tile of one value it skips."""
        self.tiles_flat += 1


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


def announce_tiling(tiled, control, doing, views):
    """Warn about the tiling and log it: "<doing> N tiles of P x P pixels (the scale ...)"."""
    for warning in tiled.warnings:
        control.warn(warning)
    if tiled.source.squared is not None:
        control.report(0.0, squared_description(tiled.source.squared))
    scale = f" ({tiled.scale.describe()})" if tiled.scale is not None else ""
    turned = f", each in {views} rotations averaged" if views > 1 else ""
    size = f"{tiled.tile_px} x {tiled.tile_px} raster pixels"
    control.report(0.0, f"{doing} {tile_count(tiled.windows_total)} of {size}{scale}{turned}")


def tile_count(count):
    """A count of tiles in words: 1 tile, 5 tiles."""
    return "1 tile" if count == 1 else f"{count} tiles"
