"""Maps the design's folders onto the `phalanx.*` namespace.

`agents/`, `tools/`, `sandbox/`, `policies/`, `models/` and `cli/` install as
`phalanx.agents`, `phalanx.tools`, ... (with every subpackage below them), so no
generic top-level name such as `agents` or `tools` is ever installed. `phalanx`
itself is an implicit namespace package.
"""

from setuptools import find_packages, setup

LAYERS = ["sandbox", "models", "tools", "policies", "agents", "cli"]

packages: list[str] = []
package_dir: dict[str, str] = {}
for layer in LAYERS:
    packages.append(f"phalanx.{layer}")
    package_dir[f"phalanx.{layer}"] = layer
    packages.extend(f"phalanx.{layer}.{sub}" for sub in find_packages(layer))

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={
        "": ["*.json", "*.yaml", "*.j2", "*.txt", "*.html", "*.md", "*.jsonl"],
        "phalanx.policies": ["data/harm_corpus/*.jsonl", "data/harm_corpus/*.npz", "data/harm_corpus/*.md"],
    },
    include_package_data=True,
)
