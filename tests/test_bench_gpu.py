"""The accelerator benchmarks in a tiny mode on the CPU: `zoo.bench.gpu` (images/s against the
measured matrix peak) and `zoo.bench.gpu_recipes` (recipe variants without TensorFlow).

No timing is asserted: the machines are shared and noisy.
"""

from __future__ import annotations

import json
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from zoo.bench import gpu, gpu_recipes
from zoo.data import catalog

pytestmark = pytest.mark.slow  # the full tier: python -m pytest --full

CLASSES = catalog.spec("cifar10").classes
# mnist_mlp's training GFLOP per sample: 2 passes of 784x512 (no input gradient), 3 of 512x10
MNIST_MLP_GFLOP = (2 * 784 * 512 + 3 * 512 * 10) * 2 / 1e9


def test_gpu_bench_tiny_run_writes_json_and_markdown(tmp_path, capsys):
    # The MLP: a resnet20 here took 40 s alone and 150 s in CI, compiling four times (CI's
    # docs test runs the page's command, vgg13_bn and resnet18 on JAX; FLOPs: the tests below)
    out = tmp_path / "gpu.json"
    assert gpu.main(["mnist_mlp", "--precision", "bf16", "fp32", "--batch-size", "4", "recipe",
                     "--steps", "2", "--epochs", "2", "--matmul-n", "128", "--seconds", "0.2",
                     "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["peak_tflops"]) == {"bf16", "fp32"}
    assert all(v > 0 for v in report["peak_tflops"].values())
    rows = report["rows"]
    assert [(r["precision"], r["batch_size"]) for r in rows] == [  # 'recipe': the card's 128
        ("bf16", 4), ("bf16", 128), ("fp32", 4), ("fp32", 128)]
    for r in rows:
        assert r["samples_per_s"] > 0
        assert r["train_gflop_per_sample"] == pytest.approx(MNIST_MLP_GFLOP, rel=1e-2)
        # achieved TFLOP/s is the measured rate's, samples_per_s that rate rounded to 0.1
        rate = r["achieved_tflops"] * 1e3 / r["train_gflop_per_sample"]
        assert round(rate, 1) == r["samples_per_s"]
    assert report["machine"]["versions"]["keras"] and report["machine"]["gpus"] == []
    text = (tmp_path / "gpu.md").read_text()
    assert "| mnist_mlp | bf16 | 4 |" in text and "matrix-multiply peak (128x128" in text
    assert text.strip() in capsys.readouterr().out


def test_gpu_bench_rejects_unknown_models_and_precisions(capsys):
    with pytest.raises(SystemExit):
        gpu.main(["no_such_model"])
    with pytest.raises(SystemExit):
        gpu.main(["resnet20", "--precision", "fp8"])
    assert "fp8" in capsys.readouterr().err


def test_crop_and_flip_takes_a_window_of_the_zero_padded_image():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (64, 8, 8, 3), dtype=np.uint8)  # no zeros: padding shows
    out = gpu_recipes.crop_and_flip(images, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8
    pad = gpu_recipes.PAD
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    flipped = 0
    for src, got in zip(padded, out, strict=True):
        windows = [src[dy:dy + 8, dx:dx + 8] for dy in range(2 * pad + 1)
                   for dx in range(2 * pad + 1)]
        plain = any(np.array_equal(got, w) for w in windows)
        mirrored = any(np.array_equal(got, w[:, ::-1]) for w in windows)
        assert plain or mirrored
        flipped += mirrored and not plain
    assert 16 < flipped < 48  # about half are flipped


def _image_folder(root, per_class: int):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, name in enumerate(CLASSES):
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.full((32, 32, 3), 20 * label, np.uint8)
                pixels[0, 0] = rng.integers(0, 256, 3)
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    with tarfile.open(root / "cifar10.tar.gz", "w:gz") as tar:
        tar.add(root / "cifar10", arcname="cifar10")
    shutil.rmtree(root / "cifar10")  # the data folder holds the archive, as ../shared/data does


def test_recipe_variants_run_in_parallel_and_report_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))  # the archive extracts there
    _image_folder(tmp_path, per_class=4)
    out = tmp_path / "r.json"
    assert gpu_recipes.main([
        "resnet20", "--data-dir", str(tmp_path), "--epochs", "1",
        "--variant", "small:batch_size=16,validation=0.0,seed=3,precision=bf16",
        "--variant", "bad:num_classes=1", "--parallel", "2",
        "--logs", str(tmp_path / "logs"), "--json", str(out)]) == 0
    rows = {r["variant"]: r for r in json.loads(out.read_text())}
    small = rows["small"]
    assert small["epochs"] == 1 and small["train_examples"] == 40  # validation=0.0 holds none
    assert 0.0 <= small["accuracy"] <= 1.0 and 0.0 <= small["flip_accuracy"] <= 1.0
    assert small["seed"] == 3 and small["precision"] == "bf16"
    assert small["changes"] == {"batch_size": 16, "validation": 0.0, "seed": 3,
                                "precision": "bf16"}
    assert "num_classes must be between 2 and" in rows["bad"]["error"]  # a child's error
    assert json.loads((tmp_path / "logs" / "small.log").read_text().splitlines()[-1])["epoch"] == 1
    assert "| small |" in capsys.readouterr().out
    # a key or value every child would refuse stops the command before it reads the data
    for variant, message in (("typo:nonsense=1", "nonsense: neither a recipe field"),
                             ("fp16:precision=fp16", "precision must be one of bf16, fp32")):
        assert gpu_recipes.main(["resnet20", "--data-dir", str(tmp_path / "nowhere"),
                                 "--epochs", "1", "--variant", variant]) == 2
        assert message in capsys.readouterr().err


def test_recipe_variants_train_on_another_dataset(tmp_path, monkeypatch):
    """`--dataset cifar10` runs resnet18 (a CIFAR-100 card) on the CIFAR-10 copy, the only one
    offline, with the variant's model option num_classes=10."""
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    _image_folder(tmp_path, per_class=2)
    out = tmp_path / "r.json"
    assert gpu_recipes.main([
        "resnet18", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1",
        "--variant", "c10:num_classes=10,batch_size=10,precision=fp32", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert "error" not in row, row
    assert row["train_examples"] == 18 and 0.0 <= row["accuracy"] <= 1.0


def test_recount_keeps_the_measured_rates_and_counts_the_flops_again(tmp_path, capsys):
    """`--recount`: an earlier result's FLOPs (here a stale count) follow today's counter; the
    measured samples/s and peaks stay as they were."""
    stale = {"date": "2026-12-04T13:32:09", "matmul_n": 8192, "steps_per_epoch": 100,
             "timed_epochs": 3, "peak_tflops": {"bf16": 600.0, "fp32": 300.0},
             "machine": {"backend": "jax", "cpu": "x", "cores": 16, "gpus": ["NVIDIA H200"],
                         "platform": "p", "versions": {"keras": "3.15.1"}},
             "rows": [{"model": m, "precision": p, "batch_size": 128, "samples_per_s": rate,
                       "train_gflop_per_sample": 9.0, "achieved_tflops": 9.0 * rate / 1e3,
                       "first_epoch_s": 1.0, "total_s": 2.0}
                      for m, p, rate in [("resnet20", "bf16", 1000.0),
                                         ("resnet20", "fp32", 500.0),
                                         ("mnist_mlp", "fp32", 2000.0)]]}
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps(stale))
    assert gpu.main(["--recount", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["peak_tflops"] == stale["peak_tflops"] and result["flops_recounted"]
    # resnet20: 3 x 81 MFLOPs, less the input gradient of the stem convolution
    expected = {"resnet20": 0.2424, "mnist_mlp": MNIST_MLP_GFLOP}
    for old, new in zip(stale["rows"], result["rows"], strict=True):
        assert new["samples_per_s"] == old["samples_per_s"]
        assert new["train_gflop_per_sample"] == pytest.approx(expected[old["model"]], rel=1e-2)
        assert new["achieved_tflops"] == pytest.approx(
            new["samples_per_s"] * new["train_gflop_per_sample"] / 1e3)
    text = (tmp_path / "gpu.md").read_text()
    assert "| resnet20 | bf16 | 128 | 1,000 | 0.242 |" in text
    assert f"counted again from the layers on {result['flops_recounted']}" in text
    assert text.strip() in capsys.readouterr().out


def test_recount_refuses_bad_input(tmp_path, capsys):
    path = tmp_path / "r.json"
    with pytest.raises(SystemExit):
        gpu.main(["--recount", str(path)])  # no such file
    assert "--recount: cannot read" in capsys.readouterr().err
    path.write_text("not json")
    with pytest.raises(SystemExit):
        gpu.main(["--recount", str(path)])
    assert "--recount: cannot read" in capsys.readouterr().err
    for text in ("[]", "{}", json.dumps({"rows": [1]}), json.dumps({"rows": []}),
                 json.dumps({"date": "d", "matmul_n": 8, "peak_tflops": {}, "machine": {},
                             "rows": [{"model": "resnet20", "precision": "fp32",
                                       "batch_size": 4, "samples_per_s": 1.0}]}),
                 json.dumps({"date": "d", "matmul_n": 8, "peak_tflops": {"bf16": 1.0},
                             "machine": {"backend": "jax", "gpus": [], "versions": {}},
                             "rows": [{"model": "resnet20", "precision": "fp32",
                                       "batch_size": 4, "samples_per_s": 1.0}]})):
        path.write_text(text)
        with pytest.raises(SystemExit):
            gpu.main(["--recount", str(path)])
        assert "is not a result of this benchmark" in capsys.readouterr().err, text
    with pytest.raises(SystemExit):
        gpu.main(["resnet20", "--recount", str(path)])
    assert "give it no models" in capsys.readouterr().err
    path.write_text(json.dumps({"date": "2026-12-04", "matmul_n": 8, "peak_tflops": {"fp32": 1.0},
                                "machine": {"backend": "jax", "gpus": [], "versions": {}},
                                "rows": [{"model": "no_such_model", "precision": "fp32",
                                          "batch_size": 4, "samples_per_s": 1.0}]}))
    assert gpu.main(["--recount", str(path)]) == 2
    assert "no_such_model" in capsys.readouterr().err
