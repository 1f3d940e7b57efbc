"""Maps the top-level folders export/ and edge/ into the jndtf namespace.

Everything else about the distribution lives in pyproject.toml. setuptools' automatic discovery
cannot rename folders, so the package list is computed here: every package under jndtf/, plus
export/ -> jndtf.export and edge/ -> jndtf.edge (with their sub-packages).
"""

from setuptools import find_packages, setup

MAPPED = {"jndtf.export": "export", "jndtf.edge": "edge"}

packages = find_packages(include=["jndtf", "jndtf.*"])
package_dir = {"jndtf": "jndtf"}
for name, folder in MAPPED.items():
    packages.append(name)
    package_dir[name] = folder
    for sub in find_packages(where=folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
