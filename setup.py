"""Packaging beside pyproject.toml: the one thing pyproject cannot say. The examples ship inside
the wheel as the package ``tilegen_examples`` (the repository's examples/ directory), so the example
registry (tilegen/examples.py) finds them in an installed tilegen too."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["tilegen*", "ir*", "backends*"]), "tilegen_examples"],
    package_dir={"tilegen_examples": "examples"},
)
