"""Only the package list lives here: pyproject.toml cannot combine package discovery with the extra
package edgepose.targets, which maps the top-level targets/ folder into the installed package."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["edgepose", "edgepose.*"]), "edgepose.targets"])
