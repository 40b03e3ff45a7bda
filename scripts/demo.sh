#!/usr/bin/env bash
# The demo: every subcommand on the shipped sample_data/, outputs under out/demo/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
A=.venv/bin/annotate
S=sample_data
O=out/demo
mkdir -p "$O"
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; rc=$?; echo "(exit code $rc)"; }

step "LabelMe -> COCO" $A convert labelme-to-coco $S/labelme --images $S/images -o $O/labelme.coco.json --overwrite
step "validate the converted file (clean)" $A validate $O/labelme.coco.json --images $S/images --report $O/validate_clean
step "validate a file with planted defects (exit 1 expected)" \
  $A validate $S/coco/with_defects.json --images $S/images --report $O/validate_defects
step "MPII .mat release -> COCO-17" $A convert mpii-to-coco $S/mpii/sample_mpii.mat --images $S/images -o $O/mpii_mat.coco.json --overwrite
step "mmpose MPII JSON -> COCO (lossless MPII-16)" \
  $A convert mpii-to-coco $S/mpii/sample_mpii.json --layout mpii16 --images $S/images -o $O/mpii_json.mpii16.json --overwrite
step "COCO (MPII-16) -> mmpose MPII JSON" $A convert coco-to-mpii $O/mpii_json.mpii16.json -o $O/mpii_roundtrip.json --overwrite
step "COCO -> LabelMe" $A convert coco-to-labelme $O/labelme.coco.json -o $O/labelme_roundtrip --images $S/images --overwrite
step "render OpenPose targets and decode them back" \
  $A render $O/labelme.coco.json --images $S/images -o $O/render --decode
if [ ! -f $O/random_cid_hrnet_w32.pth ]; then
  echo; echo "(no network: making a randomly initialised CID HRNet-w32 checkpoint for the pre-label demo;"
  echo " its predictions are meaningless. Real use: --checkpoint PATH, or no flag to fetch the official weights.)"
  .venv/bin/python -c "from models.bottomup import save_random_checkpoint as s; s('cid-hrnet-w32', '$O/random_cid_hrnet_w32.pth')"
fi
step "pre-label with CID HRNet-w32 (random weights offline)" \
  $A prelabel $S/images -o $O/prelabel --checkpoint $O/random_cid_hrnet_w32.pth --batch-size 2 --overwrite

cat <<MSG

Demo outputs are in $O/:
  labelme.coco.json            LabelMe folder converted to COCO
  validate_clean/ validate_defects/   findings.csv, findings.json, pictures/, index.html (open in a browser)
  mpii_mat.coco.json mpii_json.mpii16.json mpii_roundtrip.json   MPII conversions
  labelme_roundtrip/           COCO written back as LabelMe (open with: labelme $O/labelme_roundtrip)
  render/                      *.npz targets, *_overview.png, *_channels.png, decoded.json
  prelabel/                    LabelMe pre-labels, prelabels.coco.json, .posekit-prelabel.json
MSG
