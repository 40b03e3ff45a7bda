"""requirements.txt (what the set-up installs) and pyproject.toml (what pip installs) agree."""
from __future__ import annotations

import tomllib

from packaging.requirements import Requirement

from conftest import ROOT

# installed by scripts/setup_env.sh itself (compiled, or without their unbuildable extras), or
# pulled by labelme (PyQt5)
BY_THE_SCRIPT = {"torch", "mmengine", "mmcv", "mmpose", "pyqt5"}


def _reqs(lines) -> dict[str, Requirement]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            r = Requirement(line)
            out[r.name.lower()] = r
    return out


def test_requirements_txt_and_pyproject_agree():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _reqs(meta["dependencies"])
    for extra, reqs in meta["optional-dependencies"].items():
        if extra != "bench":
            declared.update(_reqs(reqs))
    listed = _reqs((ROOT / "requirements.txt").read_text().splitlines())
    for name, req in declared.items():
        if name in BY_THE_SCRIPT:
            continue
        assert name in listed, f"{name} is declared in pyproject.toml but not in requirements.txt"
        assert listed[name].specifier == req.specifier, f"{name}: {listed[name]} vs {req}"
        assert listed[name].extras == req.extras, f"{name}: extras differ"
    core = {r.lower() for r in _reqs(meta["dependencies"])}
    assert "opencv-python" not in core | set(listed), "only the headless OpenCV (labelme's Qt needs it)"
    assert {"rich", "pillow", "opencv-python-headless"} <= core
