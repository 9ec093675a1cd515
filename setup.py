"""Build hook: a built wheel carries `results/*.csv`, so an installed zoo's cards read the results
measured here (`zoo/results.py`). The project's metadata is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESULTS = Path(__file__).resolve().parent / "results"
TABLES = ("results.csv", "not_measured.csv")


class BuildPyWithResults(build_py):
    """`build_py`, then a copy of the results tables into the built package's `_results/`."""

    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's results/ in place
            return
        target = Path(self.build_lib, "zoo", "_results")
        target.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            shutil.copyfile(RESULTS / name, target / name)


setup(cmdclass={"build_py": BuildPyWithResults})
