"""The loader benchmark in a tiny mode: well-formed output, no timing asserts."""

from __future__ import annotations

import json

from zoo.bench import loaders


def test_loader_benchmark_tiny_run(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert loaders.main(["mnist", "--synthetic", "--seconds", "0.2", "--batch-size", "32",
                         "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["dataset"] for r in rows] == ["mnist"] and rows[0]["model"] == "mnist_mlp"
    assert rows[0]["loader_samples_per_s"] > 0 and rows[0]["model_samples_per_s"] > 0
    printed = capsys.readouterr().out
    assert printed.startswith("| dataset | loader samples/s |") and "| mnist |" in printed


def test_loader_benchmark_refuses_an_unknown_dataset(capsys):
    assert loaders.main(["svhn"]) == 2
    assert "unknown dataset 'svhn'" in capsys.readouterr().err
