"""What travels to the device tool's GPU machine: sizes, site.zip, the carried pack and init.

Used by tools/gpu_job.py (`prepare`); see training/README.md, section 4.
"""

import hashlib
import importlib.metadata
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

MIB = 1 << 20
TRAVEL_LIMIT = 64 * MIB  # working tree + carried paths (device README, Limits)
JOB_DIR = ".gpu"  # carried: site.zip, the pack copy, the init checkpoint
WHEEL_DIR = ".whl"
# Pure-Python wheels the GPU machine lacks (it has torch, timm, transformers, safetensors ...).
# wcwidth 0.2.13 is pure Python (0.9 is a 0.8 MB binary wheel); ftfy takes any version.
WHEEL_SPECS = ("open_clip_torch", "ftfy", "wcwidth==0.2.13")
PIP_PLATFORM = ("--python-version", "3.12", "--implementation", "cp", "--platform",
                "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                "--platform", "manylinux2014_x86_64")
# open_clip reads its 1.3 MB BPE vocabulary at import; the tree already holds the same file.
BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"
TREE_BPE = Path("plugin/core/tokenizers/data") / BPE_NAME


class JobError(ValueError):
    """The job cannot travel or its returned files are unusable; the message says what to do."""


def sha256(path):
    """Hex SHA-256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_files(repo):
    """Files that travel without being carried: tracked + untracked-not-ignored (+ shared/)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=repo, capture_output=True, check=True).stdout
    files = {Path(repo) / name for name in out.decode().split("\0") if name}
    shared = Path(repo) / "shared"
    if shared.is_dir():
        files.update(p for p in shared.rglob("*") if p.is_file())
    return sorted(p for p in files if p.is_symlink() or p.is_file())


def path_bytes(path):
    """Size of a file, or of every file under a folder (links count as themselves)."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_symlink() or p.is_file())


def travel_report(repo, carry, limit=TRAVEL_LIMIT):
    """{tree, carry: {path: bytes}, total, limit, margin} of what one `run` call sends."""
    tree = sum(p.lstat().st_size for p in tree_files(repo))
    carried = {str(c): path_bytes(Path(repo) / c) for c in carry}
    total = tree + sum(carried.values())
    return {"tree": tree, "carry": carried, "total": total, "limit": limit,
            "margin": limit - total}


def largest_tree_files(repo, count=5):
    files = sorted(tree_files(repo), key=lambda p: p.lstat().st_size, reverse=True)[:count]
    return [f"{p.relative_to(repo)} ({p.lstat().st_size / MIB:.1f} MiB)" for p in files]


def download_wheels(wheel_dir, specs=None):
    """`pip download --no-deps` the GPU machine's missing wheels (Python 3.12, manylinux)."""
    specs = specs or [s if "==" in s else f"{s}=={importlib.metadata.version(s)}"
                      for s in WHEEL_SPECS]  # the versions tested here
    Path(wheel_dir).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", *PIP_PLATFORM, "-d", str(wheel_dir), *specs],
                   check=True)
    wheels = []
    for spec in specs:
        name, version = spec.split("==")
        found = sorted(Path(wheel_dir).glob(f"{name.replace('-', '_')}-{version}-*.whl"))
        if not found:
            raise JobError(f"pip saved no wheel for {spec} in {wheel_dir}")
        wheels.append(found[-1])
    return wheels


def build_site_zip(wheels, out, tree_bpe):
    """One zip of the wheels' contents, less open_clip's BPE file when the tree has its twin.

    Returns:
        True when the BPE file was left out (the remote script copies it from the tree).
    """
    skip = f"open_clip/{BPE_NAME}"
    dropped = False
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as source:
                for info in source.infolist():
                    data = source.read(info)
                    if info.filename == skip and Path(tree_bpe).is_file() and \
                            hashlib.sha256(data).hexdigest() == sha256(tree_bpe):
                        dropped = True
                        continue
                    target.writestr(info.filename, data)
    return dropped


def round_float16(values, drop_bits):
    """float16 values rounded to `10 - drop_bits` mantissa bits (compress far better)."""
    if not drop_bits:
        return values
    raw = values.astype(np.float16).view(np.uint16).astype(np.uint32)
    mask = (0xFFFF << drop_bits) & 0xFFFF
    return ((raw + (1 << (drop_bits - 1))) & mask).astype(np.uint16).view(np.float16)


def write_carry_pack(source, target, drop_bits=0):
    """A copy of a pack that travels smaller and loads the same (`np.load` reads LZMA members).

    The WebP blob is stored as is; the other members are LZMA-compressed, `text_features`
    first rounded by `drop_bits` mantissa bits (4 keeps a cosine of 0.99999 to the original).
    """
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "text_features.npy" and drop_bits:
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, round_float16(
                    np.lib.format.read_array(io.BytesIO(data)), drop_bits))
                data = buffer.getvalue()
            method = zipfile.ZIP_STORED if info.filename == "image_blob.npy" else \
                zipfile.ZIP_LZMA
            dst.writestr(zipfile.ZipInfo(info.filename, info.date_time), data, method)


def fit_carry(repo, pack, job, size, bits_choices, drop_choices, limit, reserve=0):
    """Write the carried pack copy and init checkpoint at the highest fidelity that fits.

    Tries float16 then int8 init weights, each with exact then ever more rounded caption
    features (the order of falling fidelity and size), until `reserve` bytes are left under
    `limit`. Returns (bits, drop_bits, travel report).
    """
    from training.model.checkpoint import save_init_checkpoint
    written = {}
    for bits in bits_choices:
        for drop in drop_choices:
            if written.get("drop") != drop:
                write_carry_pack(repo / pack, job / Path(pack).name, drop)
            if written.get("bits") != bits:
                save_init_checkpoint(job / f"init-{size}.safetensors", size, bits,
                                     trunk_only=True)
            written = {"bits": bits, "drop": drop}
            report = travel_report(repo, [JOB_DIR], limit)
            if report["margin"] >= reserve:
                return bits, drop, report
    raise JobError(
        f"what travels is {report['total'] / MIB:.1f} MiB, over {limit / MIB:.0f} MiB: tree "
        f"{report['tree'] / MIB:.1f} MiB (largest: {', '.join(largest_tree_files(repo))}), "
        f"{JOB_DIR} {report['carry'][JOB_DIR] / MIB:.1f} MiB. Shrink the tree (keep large "
        "files out of git) or pack fewer images.")
