"""For `scrapyd-deploy`, which builds its egg with `setup.py bdist_egg`: the metadata,
packages, package data and the scrapy entry point all come from pyproject.toml."""

from setuptools import setup

setup()
