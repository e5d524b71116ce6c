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
        "phalanx.policies": [
            "data/harm_corpus/*.jsonl",
            "data/harm_corpus/*.npz",
            "data/harm_corpus/*.md",
            # The input-stage request classifier, its training and evaluation sets (NOTICE.md).
            "data/input_guard/*.jsonl",
            "data/input_guard/*.npz",
            "data/input_guard/*.md",
            "data/input_guard/heldout_probes.txt",
            "data/input_guard/eval/*.jsonl",
            # ToolSword (Apache-2.0): the data, its licence and where it comes from.
            "data/toolsword/LICENSE",
            "data/toolsword/SOURCE.md",
            "data/toolsword/data/*.json",
        ],
        # The APPS+ sample (MIT / Apache-2.0): the records, their licences and where they come from.
        "phalanx.agents.stepcoder": ["apps_plus/*"],
    },
    include_package_data=True,
)
