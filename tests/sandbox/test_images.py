"""Image recipes (content-hashed tags) and the `scientific` image with preloaded numpy."""

from __future__ import annotations

import pytest

from phalanx.sandbox import Limits, open_sandbox, run_python
from phalanx.sandbox.docker.image import RECIPES, ImageRecipe


def test_recipe_tags_are_content_hashes():
    a = ImageRecipe("x", ("python3", "b"))
    assert a.tag == ImageRecipe("x", ("b", "python3")).tag  # order does not matter
    assert a.tag != ImageRecipe("x", ("python3", "c")).tag  # contents do
    assert RECIPES["default"].tag != RECIPES["scientific"].tag
    assert RECIPES["default"].tag.startswith("phalanx-sandbox:default-")
    assert "python3" in RECIPES["default"].packages
    assert {"python3-numpy", "python3-scipy"} <= set(RECIPES["scientific"].packages)


@pytest.mark.requires_docker
async def test_scientific_image_preloads_numpy_without_leaking_state():
    sb = open_sandbox("docker", image="scientific", pool_size=1)
    lim = Limits(timeout_s=20, memory_mb=512)
    try:
        r = await run_python(
            sb, "import numpy as np, scipy\nnp.LEAK = 1\nprint(int(np.arange(5).sum()))", limits=lim
        )
        assert r.ok and r.stdout == "10\n", r.stderr
        r = await run_python(sb, "import numpy as np\nprint(hasattr(np, 'LEAK'))", limits=lim)
        assert r.stdout == "False\n"
    finally:
        await sb.aclose()
