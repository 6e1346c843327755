"""Training learns on real images, logs every objective and keeps only the trainable weights."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from open_clip.loss import ClipLoss
from safetensors.torch import load_file

from training.data import pack as packing
from training.data.augment import augment, to_unit_float
from training.data.data import CaptionDataset
from training.model import checkpoint
from training.model.checkpoint import load_checkpoint
from training.model.model import EMBED_DIM, create_model, trainable_state_dict
from training.objectives.losses import MultiPositiveClipLoss
from training.recipes import RecipeError, load_recipe
from training.train.step import reword_class_captions
from training.train.train import class_wordings, train

# One thread: on a shared 2-core machine OpenMP's second thread waits on a busy core.
TINY = ["model.image_size=64", "runtime.threads=1", "runtime.log_every_steps=1",
        "augment.enabled=false", "data.val_fraction=0", "runtime.eval_every_epochs=1000"]


@pytest.fixture(scope="module", autouse=True)
def keep_thread_count():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def caption_pack(shared_data, tmp_path_factory):
    """16 RSICD-on-AID train images, one from each of 16 classes, at 64 px."""
    dataset = CaptionDataset.rsicd_aid("train", shared_data)
    firsts = {}
    for item in dataset.items:
        firsts.setdefault(item.scene_class, item)
    dataset.items = list(firsts.values())[:16]
    path = tmp_path_factory.mktemp("pack") / "tiny.pack"
    packing.build_pack(dataset, path, size=64, threads=1)
    return path


def read_log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def overfit_run(caption_pack, tmp_path_factory):
    run = tmp_path_factory.mktemp("overfit")
    recipe = load_recipe("default", TINY + ["optim.batch_size=16", "optim.epochs=20"])
    summary = train(recipe, caption_pack, run, device="cpu")
    return run, summary


def test_contrastive_loss_falls(overfit_run):
    run, summary = overfit_run
    losses = [r["loss_contrastive"] for r in read_log(run) if r["event"] == "train"]
    assert len(losses) == summary["steps"] == 20
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.8 * first, f"contrastive loss did not fall: {first:.3f} -> {last:.3f}"
    assert summary["images_per_s"] > 0


def test_checkpoint_holds_only_trainable_tensors_and_reloads(overfit_run):
    run, _ = overfit_run
    saved = load_file(str(run / "best.safetensors"))
    fresh = create_model(64)
    reference = trainable_state_dict(fresh)
    assert set(saved) == set(reference)
    assert not any(key.startswith("text.transformer") for key in saved)
    assert all(v.dtype == torch.float16 for v in saved.values() if v.is_floating_point())
    info = load_checkpoint(fresh, run / "best.safetensors")
    assert info["recipe"]["model"]["image_size"] == 64 and info["git_revision"]
    assert info["epoch"] == 19  # no validation slice: the last epoch is kept
    reloaded = trainable_state_dict(fresh)
    for key, value in saved.items():
        torch.testing.assert_close(reloaded[key].to(value.dtype), value)
    moved = [key for key in saved if key.startswith("visual.trunk") and saved[key]
             .is_floating_point() and not torch.equal(saved[key], reference[key].half())]
    assert moved, "training changed no backbone weight"


def test_init_checkpoint_carries_the_imagenet_weights(tmp_path):
    checkpoint.main(["--size", "64", "--out", str(tmp_path / "init.safetensors")])
    blank = create_model(64, pretrained=False)
    load_checkpoint(blank, tmp_path / "init.safetensors")
    pretrained = trainable_state_dict(create_model(64))
    loaded = trainable_state_dict(blank)
    for key in ("visual.trunk.conv_stem.weight", "text.proj.weight"):
        torch.testing.assert_close(loaded[key], pretrained[key].half().float())


def test_mim_is_logged_and_best_epoch_is_kept(caption_pack, tmp_path):
    recipe = load_recipe("mim", TINY + ["optim.batch_size=12", "optim.epochs=3",
                                        "data.val_fraction=0.25", "runtime.eval_every_epochs=1"])
    summary = train(recipe, caption_pack, tmp_path, device="cpu")
    records = read_log(tmp_path)
    steps = [r for r in records if r["event"] == "train"]
    assert len(steps) == 3 and all(math.isfinite(r["loss_mim"]) and r["loss_mim"] > 0
                                   for r in steps)
    epochs = [r for r in records if r["event"] == "epoch"]
    recalls = [r["val"]["mean_recall"] for r in epochs]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["epoch"] == int(np.argmax(recalls)) == summary["best_epoch"]
    assert best["pack"]["val_images"] == 4 and best["pack"]["train_images"] == 12


def test_location_objective_runs_on_geotiff_tiles(shared_data, tmp_path):
    index = shared_data / "scenes" / "satclip_s2" / "index.csv"
    path = tmp_path / "s2.pack"
    packing.main(["--source", "geotiff", "--geotiff", str(index), "--size", "64",
                  "--out", str(path)])
    recipe = load_recipe("default", TINY + ["optim.batch_size=8", "optim.epochs=1"])
    train(recipe, path, tmp_path / "run", device="cpu")
    records = read_log(tmp_path / "run")
    assert records[0]["objectives"] == {"location": 1.0}  # no captions: contrastive is off
    steps = [r for r in records if r["event"] == "train"]
    assert len(steps) == 2 and all(math.isfinite(r["loss_location"]) for r in steps)


def test_class_wordings_and_locked_projection(caption_pack, tmp_path):
    recipe = load_recipe("default", TINY + ["optim.batch_size=8", "optim.epochs=1",
                                            "data.class_caption_templates=true",
                                            "model.lock_text_projection=true"])
    train(recipe, caption_pack, tmp_path, device="cpu")
    saved = load_file(str(tmp_path / "best.safetensors"))
    assert "text.proj.weight" not in saved  # locked: not trained, so not saved
    model = create_model(64)
    load_checkpoint(model, tmp_path / "best.safetensors")
    torch.testing.assert_close(model.text.proj.weight, torch.eye(EMBED_DIM))


def test_rewording_replaces_only_class_captions():
    wordings = torch.tensor([[10, 11, 12], [20, 21, 22], [-1, -1, -1]])
    drawn = torch.tensor([10, 5, 7])  # image 0 drew its class caption, 1 and 2 a natural one
    torch.manual_seed(0)
    seen = {int(reword_class_captions(drawn, wordings)[0]) for _ in range(50)}
    assert seen == {10, 11, 12}
    for _ in range(10):
        assert reword_class_captions(drawn, wordings)[1:].tolist() == [5, 7]


def test_wordings_need_a_pack_that_holds_them(caption_pack):
    pack = packing.PackDataset(caption_pack, threads=1)
    pack.class_template_rows = None  # as in a pack made before wordings existed
    recipe = load_recipe("default", ["data.class_caption_templates=true"])
    with pytest.raises(ValueError, match="rebuild it"):
        class_wordings(pack, recipe)
    rows = class_wordings(packing.PackDataset(caption_pack, threads=1), recipe)
    assert rows.shape[0] == 16 and (rows >= 0).all()


def test_torchrun_trains_on_two_cpu_ranks(caption_pack, tmp_path, repo_root):
    """DDP over gloo: two processes share one global batch; only rank 0 logs and saves."""
    settings = [arg for knob in TINY + ["optim.batch_size=8", "optim.epochs=2"]
                for arg in ("--set", knob)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "training", "train", "--pack", str(caption_pack),
               "--out", str(tmp_path), "--device", "cpu", *settings]
    done = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_log(tmp_path)
    start = records[0]
    assert start["world_size"] == 2 and start["global_batch"] == 8
    steps = [r for r in records if r["event"] == "train"]
    assert len(steps) == 4 and all(math.isfinite(r["loss_contrastive"]) for r in steps)
    assert sum(r["event"] == "start" for r in records) == 1  # rank 1 writes nothing
    assert (tmp_path / "best.safetensors").is_file() and json.loads(done.stdout)["steps"] == 4


def test_repeated_captions_count_as_positives():
    torch.manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    scale = torch.tensor(10.0)
    loss = MultiPositiveClipLoss()
    torch.testing.assert_close(loss(images, texts, scale, torch.arange(6)),
                               ClipLoss()(images, texts, scale))
    shared = torch.tensor([0, 0, 1, 2, 3, 4])
    # Columns 0 and 1 are positives of rows 0 and 1: each row's target is half on each.
    logits = scale * images @ texts.T
    targets = (shared[:, None] == shared[None, :]).float()
    targets = targets / targets.sum(dim=1, keepdim=True)
    by_hand = (-(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()
               - (targets * logits.T.log_softmax(dim=1)).sum(dim=1).mean()) / 2
    torch.testing.assert_close(loss(images, texts, scale, shared), by_hand)
    assert not torch.isclose(by_hand, ClipLoss()(images, texts, scale))


def test_identical_caption_features_make_it_plain_infonce():
    """Two images that drew the same caption get the same (frozen) caption feature; then the
    soft target spreads over two equal columns and the loss is plain InfoNCE's, exactly."""
    torch.manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    texts[1] = texts[0]
    shared, scale = torch.tensor([0, 0, 1, 2, 3, 4]), torch.tensor(10.0)
    torch.testing.assert_close(MultiPositiveClipLoss()(images, texts, scale, shared),
                               ClipLoss()(images, texts, scale))


def test_augment_turns_are_exact_and_off_is_identity():
    picture = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    plain = to_unit_float(picture, 16)
    torch.testing.assert_close(augment(picture, 16, {"enabled": False}), plain)
    turned = augment(picture, 16, {"rot90": True, "hflip": True})
    for one, base in zip(turned, plain):
        candidates = [torch.rot90(b, k, dims=(1, 2)) for k in range(4)
                      for b in (base, base.flip(-1))]
        assert min(float((one - c).abs().max()) for c in candidates) < 1e-4
    cropped = augment(picture, 24, {"crop_scale": [0.5, 1.0], "brightness": 0.2,
                                    "contrast": 0.2})
    assert cropped.shape == (2, 3, 24, 24) and 0 <= cropped.min() and cropped.max() <= 1


def test_grayscale_turns_the_chosen_share_grey_by_luma():
    torch.manual_seed(0)
    picture = torch.randint(0, 256, (400, 8, 8, 3), dtype=torch.uint8)
    plain = to_unit_float(picture, 8)
    torch.testing.assert_close(augment(picture, 8, {"grayscale": 0.0}), plain)
    out = augment(picture, 8, {"grayscale": 0.25})
    grey = (out[:, 0] == out[:, 1]).all(dim=(1, 2)) & (out[:, 1] == out[:, 2]).all(dim=(1, 2))
    assert 60 < int(grey.sum()) < 140  # about a quarter of 400
    luma = 0.299 * plain[:, 0] + 0.587 * plain[:, 1] + 0.114 * plain[:, 2]
    torch.testing.assert_close(out[grey][:, 0], luma[grey])
    torch.testing.assert_close(out[~grey], plain[~grey])  # the others are left as they were
    assert augment(picture, 8, {"grayscale": 1.0}).std(dim=1).max() < 1e-6


def test_recipes_reject_typos_and_take_overrides():
    recipe = load_recipe("default", ["optim.epochs=5", "objectives.mim.weight=0.25"])
    assert recipe["optim"]["epochs"] == 5 and recipe["objectives"]["mim"]["weight"] == 0.25
    assert load_recipe("mim")["objectives"]["mim"]["weight"] > 0
    with pytest.raises(RecipeError, match="unknown recipe key optim.'epoch'"):
        load_recipe("default", ["optim.epoch=5"])
    with pytest.raises(RecipeError, match="not found"):
        load_recipe("no-such-recipe")


def test_weight_average_follows_the_ema_formula_for_weights_and_buffers():
    from training.train.train import weight_average

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    assert weight_average(model, 0.0) is None
    with pytest.raises(ValueError, match="ema_decay"):
        weight_average(model, 1.0)
    average = weight_average(model, 0.9)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(2.0)
    average.update_parameters(model)  # the first update copies, later ones average
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(4.0)
    average.update_parameters(model)
    torch.testing.assert_close(average.module[0].weight, start + 0.9 * 1.0 + 0.1 * 2.0)
    torch.testing.assert_close(average.module[1].running_mean, torch.full((2,), 2.2))


def test_an_ema_recipe_saves_the_averaged_weights(caption_pack, overfit_run, tmp_path):
    recipe = load_recipe("ema", TINY + ["optim.batch_size=16", "optim.epochs=20"])
    assert recipe["optim"]["ema_decay"] == 0.99
    train(recipe, caption_pack, tmp_path, device="cpu")
    plain, averaged = (load_file(str(run / "best.safetensors")) for run in (overfit_run[0],
                                                                             tmp_path))
    assert plain.keys() == averaged.keys()
    # the same seed trains the same weights; only what is kept differs
    assert any(not torch.equal(plain[name], averaged[name]) for name in plain)
    model = create_model(64)
    load_checkpoint(model, tmp_path / "best.safetensors")
    info = json.loads((tmp_path / "best.json").read_text())
    assert info["recipe"]["optim"]["ema_decay"] == 0.99
