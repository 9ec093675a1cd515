"""MkDocs hooks: keep the generated navigation file (SUMMARY.md) out of the built site.

literate-nav reads SUMMARY.md for the navigation; left in, it would also become a page of its
own (`SUMMARY/`) and a search result.
"""

from mkdocs.structure.files import InclusionLevel


def on_files(files, config):
    summary = files.get_file_from_path("SUMMARY.md")
    if summary is not None:
        summary.inclusion = InclusionLevel.EXCLUDED
    return files
