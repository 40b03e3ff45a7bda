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
  "${PIP[@]}" install "setuptools<70" wheel ninja psutil "numpy>=2" cython
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

# 4. the rest of the stack; mmpose/mmdet without their unbuildable/unused extras.
if ! have mmpose==1.3.2 mmdet==3.3.0 mmengine==0.10.7 labelme pycocotools typer pandas; then
  log "installing mmengine, mmdet, mmpose, labelme and the project's dependencies"
  "${PIP[@]}" install -r "$ROOT/requirements.txt"
  "${PIP[@]}" install --no-deps "mmdet==3.3.0" "mmpose==1.3.2"
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

python -c "import mmcv._ext, mmpose.models, xtcocotools.coco, labelme, pycocotools, annotate" \
  || { echo "[setup] the environment is incomplete; see the errors above" >&2; exit 1; }
log "environment ready: $VENV"
