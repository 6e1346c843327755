"""The AID-train mosaics that prompt-mask defaults are chosen on: plan, pixels and truth."""

import numpy as np
from osgeo import gdal

from training.evaluate import mask_select


def test_a_mosaic_plan_has_its_positives_and_no_near_class(shared_data):
    images = mask_select.train_images(shared_data)
    scene = {image: name for name, paths in images.items() for image in paths}
    for prompt in mask_select.PROMPTS:
        for positives in mask_select.POSITIVE_CELLS:
            plan = mask_select.mosaic_plan(images, prompt, positives, np.random.default_rng(0))
            assert len(plan) == 16 and sum(p for _, p in plan) == positives
            assert len({image for image, _ in plan}) == 16
            for image, positive in plan:
                assert (scene[image] in mask_select.PROMPTS[prompt]) == positive
                assert scene[image] not in mask_select.NEAR[prompt]
    again = mask_select.mosaic_plan(images, "trees", 5, np.random.default_rng(0))
    assert again == mask_select.mosaic_plan(images, "trees", 5, np.random.default_rng(0))


def test_a_mosaic_is_georeferenced_and_its_truth_covers_its_positive_cells(shared_data,
                                                                           tmp_path):
    images = mask_select.train_images(shared_data)
    plan = mask_select.mosaic_plan(images, "building", 5, np.random.default_rng(0))
    truth = mask_select.write_mosaic(tmp_path / "m.tif", plan, shared_data)
    dataset = gdal.Open(str(tmp_path / "m.tif"))
    assert (dataset.RasterXSize, dataset.RasterYSize, dataset.RasterCount) == (600, 600, 3)
    assert dataset.GetGeoTransform()[1] == mask_select.PIXEL_M
    assert truth.sum() == 5 * 150 * 150
    first = plan[0]
    cell = dataset.ReadAsArray()[:, :150, :150]
    assert truth[:150, :150].all() == first[1] and cell.std() > 0
