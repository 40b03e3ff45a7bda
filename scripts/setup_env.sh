#!/usr/bin/env bash
# Build the project's virtual environment in .venv/ (idempotent).
#
# The OpenMMLab stack does not install with a plain `pip install mmpose` on a
# current Python/torch: mmcv 2.1 must be compiled with its ops, mmpose pins an
# unbuildable extra (chumpy), and xtcocotools must be rebuilt against numpy 2.
# Each step below is skipped when its result is already present, and compiled
# wheels are kept in a cache outside the repo so fresh clones do not rebuild.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
CACHE="${POSEKIT_WHEEL_CACHE:-$HOME/.cache/posekit/wheels}"
mkdir -p "$CACHE"

log() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
export PATH="$VENV/bin:$PATH"
PIP=(python -m pip --disable-pip-version-check -q)
# pip's resolver reports as ERROR the two known, deliberate mismatches of this stack: torch's
# setuptools floor (mmcv's build needs setuptools<70 for pkg_resources) and mmcv's opencv-python
# (the headless build is the same cv2, see 4b); --no-warn-conflicts keeps those out of the log.
INSTALL=("${PIP[@]}" install --no-warn-conflicts)

have() { python - "$@" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    got = version(name)
    if want and got.split("+")[0] != want:
        raise SystemExit(1)
PYEOF
}

# 1. torch (CPU build; a GPU machine keeps whatever torch it already has).
if ! have torch; then
  log "installing torch 2.13.0"
  "${PIP[@]}" install "torch==2.13.0"
fi

# 2. build tools needed to compile mmcv's ops against the installed torch.
if ! have "setuptools" ninja psutil numpy wheel cython; then
  "${INSTALL[@]}" "setuptools<70" wheel ninja psutil "numpy>=2" cython
fi

# 3. mmcv 2.1.0 with compiled ops (no wheel on PyPI for this torch).
if ! have mmcv==2.1.0 || ! python -c "import mmcv._ext" 2>/dev/null; then
  tag="$(python -c 'import torch,sys;print("torch"+torch.__version__.replace("+","_")+"-py"+str(sys.version_info[0])+str(sys.version_info[1]))')"
  dir="$CACHE/mmcv-$tag"
  if ! ls "$dir"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    log "compiling mmcv 2.1.0 with ops (about 10-15 minutes on 2 cores, once; cached in $dir)"
    mkdir -p "$dir.tmp"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$dir.tmp" "mmcv==2.1.0"
    mv "$dir.tmp" "$dir"
  fi
  "${PIP[@]}" install --no-deps "$dir"/mmcv-2.1.0-*.whl
fi

# 4. the project's dependencies (requirements.txt: same pins as pyproject.toml), re-run whenever
#    that list changes; mmengine, mmdet and mmpose without their unbuildable/unused extras
#    (mmengine would pull opencv-python next to the headless build; mmpose pins chumpy).
req_stamp="$VENV/.posekit-requirements"
req_hash="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$req_hash" ] \
    || ! have mmpose==1.3.2 mmdet==3.3.0 mmengine==0.10.7 labelme pycocotools typer pandas ray; then
  log "installing the project's dependencies (requirements.txt), mmengine, mmdet and mmpose"
  "${INSTALL[@]}" -r "$ROOT/requirements.txt"
  "${INSTALL[@]}" --no-deps "mmengine==0.10.7" "mmdet==3.3.0" "mmpose==1.3.2"
  echo "$req_hash" > "$req_stamp"
fi

# 4b. only the headless OpenCV: opencv-python's Qt plugins stop labelme from starting on a
#     display. Both wheels own cv2/, so removing one breaks the other: reinstall headless.
if have opencv-python; then
  log "replacing opencv-python with opencv-python-headless"
  "${PIP[@]}" uninstall -y opencv-python
  "${PIP[@]}" install --no-deps --force-reinstall "opencv-python-headless>=4.8"
fi

# 4c. test-only tools: Ultralytics' own label checker (verify_image_label) judges the YOLO-pose
#     files we write. It sits in its own folder, put on PYTHONPATH only by the tests that use it:
#     Ultralytics reads torchvision's version at import, and PyPI's torchvision does not load
#     beside the CPU torch (and would break mmcv's optional torchvision imports if it sat in the
#     main environment). --no-deps: the checker needs neither opencv-python nor torchvision code.
UL="$VENV/ultralytics-checker"
if [ ! -d "$UL/ultralytics" ] || ! have polars requests; then
  log "installing Ultralytics' label checker for the tests into $UL"
  "${PIP[@]}" install polars requests
  rm -rf "$UL.tmp"
  "${PIP[@]}" install --no-deps --no-compile --target "$UL.tmp" "ultralytics==8.4.190" torchvision
  rm -rf "$UL" && mv "$UL.tmp" "$UL"
fi

# 5. xtcocotools rebuilt against numpy 2 (its wheel is built for numpy 1.x).
if ! python -c "import xtcocotools.coco" 2>/dev/null; then
  dir="$CACHE/xtcocotools-$(python -c 'import numpy,sys;print("np"+numpy.__version__+"-py"+str(sys.version_info[0])+str(sys.version_info[1]))')"
  if ! ls "$dir"/xtcocotools-*.whl >/dev/null 2>&1; then
    log "rebuilding xtcocotools against numpy $(python -c 'import numpy;print(numpy.__version__)')"
    mkdir -p "$dir.tmp"
    "${PIP[@]}" wheel --no-build-isolation --no-binary xtcocotools --no-deps -w "$dir.tmp" "xtcocotools==1.14.3"
    mv "$dir.tmp" "$dir"
  fi
  "${PIP[@]}" install --no-deps --force-reinstall "$dir"/xtcocotools-*.whl
fi

# 6. the project itself, editable: a plain path entry (compat mode) rather than setuptools'
#    import hook, which costs every start of `annotate` about 10 ms.
if ! have posekit || [ "$ROOT/pyproject.toml" -nt "$VENV/.posekit-installed" ] \
    || grep -qs finder "$VENV"/lib/python3*/site-packages/__editable__.posekit-*.pth; then
  "${PIP[@]}" install --no-deps -e "$ROOT" --config-settings editable_mode=compat
  touch "$VENV/.posekit-installed"
fi

# 7. the project's bytecode (pip writes it for installed packages, not for an editable one).
python -m compileall -q "$ROOT/annotate" "$ROOT/converters" "$ROOT/models" >/dev/null
#    and the numba kernels of the OpenPose targets (cached beside the sources; seconds once)
python -c "from annotate.targets import compile_kernels; compile_kernels()"

# 8. programs the tests drive as a person would (a real X display for labelme, a real browser
#    for the validation page), from Debian's packages where this machine can install them.
#    The xcb libraries are what Qt's xcb platform plugin (PyQt5, so labelme) needs on a display.
DEBS=(xvfb xauth chromium-headless-shell libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
      libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0)
if ! command -v Xvfb >/dev/null 2>&1 || ! command -v chromium-headless-shell >/dev/null 2>&1 \
    || ! { command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W "${DEBS[@]}" >/dev/null 2>&1; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing xvfb, chromium-headless-shell and Qt's xcb libraries (Debian) for the GUI and browser tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${DEBS[@]}"; } >/dev/null 2>&1 \
      || log "could not install xvfb/chromium-headless-shell; those tests will say why they skip"
  else
    log "xvfb/chromium-headless-shell missing and not root: the GUI and browser tests will skip"
  fi
fi

python -c "import mmcv._ext, mmpose.models, xtcocotools.coco, labelme, pycocotools, ray, annotate" \
  || { echo "[setup] the environment is incomplete; see the errors above" >&2; exit 1; }
log "environment ready: $VENV"
