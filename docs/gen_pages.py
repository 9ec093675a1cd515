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

# Tables inside hand-written pages: each <!-- zoo:NAME --> marker is replaced by its table.
MARKERS = {"datasets.md": {"<!-- zoo:datasets -->": docs.datasets_table()},
           "index.md": {"<!-- zoo:models -->": docs.models_table("models/", sources=False)},
           "benchmarks.md": {"<!-- zoo:benchmarks -->": docs.benchmark_results(),
                             "<!-- zoo:notes -->": docs.benchmark_notes()}}
for page, tables in MARKERS.items():
    with mkdocs_gen_files.open(page, "r") as f:
        text = f.read()
    for marker, table in tables.items():
        if marker not in text:
            raise SystemExit(f"docs/{page} lost its {marker} marker")
        text = text.replace(marker, table)
    with mkdocs_gen_files.open(page, "w") as f:
        f.write(text)

with mkdocs_gen_files.open("SUMMARY.md", "w") as f:
    f.write(docs.nav())
