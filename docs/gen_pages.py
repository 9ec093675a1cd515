"""Generate the model pages, tables and navigation from the registry at build time (mkdocs-gen-files)."""

import mkdocs_gen_files

from zoo import docs

for family, names in docs.families().items():
    with mkdocs_gen_files.open(f"models/{family}/index.md", "w") as f:
        f.write(docs.family_page(family))
    for name in names:
        with mkdocs_gen_files.open(docs.model_path(name), "w") as f:
            f.write(docs.model_page(name))
        mkdocs_gen_files.set_edit_path(docs.model_path(name), "../zoo/docs.py")

with mkdocs_gen_files.open("models/index.md", "w") as f:
    f.write(docs.models_overview())

# Tables and settings inside hand-written pages: each <!-- zoo:NAME --> marker is replaced by
# what the code says, so no page types a figure the code could contradict.
TABLES = {"datasets.md": {"datasets": docs.datasets_table()},
          "index.md": {"models": docs.models_table("models/", sources=False)},
          "benchmarks.md": {"benchmarks": docs.benchmark_results(),
                            "benchmark_backends": docs.benchmark_results("backends.md"),
                            "benchmark_gpu": docs.benchmark_results("gpu.md")}}
for page in ("index.md", "datasets.md", "training.md", "benchmarks.md", "api.md"):
    with mkdocs_gen_files.open(page, "r") as f:
        text = f.read()
    for name in TABLES.get(page, {}):
        if f"<!-- zoo:{name} -->" not in text:
            raise SystemExit(f"docs/{page} lost its <!-- zoo:{name} --> marker")
    try:
        text = docs.fill_markers(text, {**docs.values(), **TABLES.get(page, {})}, page)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    with mkdocs_gen_files.open(page, "w") as f:
        f.write(text)

with mkdocs_gen_files.open("SUMMARY.md", "w") as f:
    f.write(docs.nav())
