#!/usr/bin/env bash
# Render slidemap's HTML outputs to PNG with headless Debian chromium and check that they
# show content (the acceptance check "look at the report in a browser").
#
# Usage (from the repository root, after a run):
#   tests/render_report.sh [STUDY] [OUTDIR]
#     STUDY   study name (results/<STUDY>/), default: demo
#     OUTDIR  where the PNGs go, default: results/<STUDY>/report/render
#   tests/render_report.sh --html FILE.html OUT.png   # render one page
#
# It renders
#   1. results/<STUDY>/report/interactive_map.html (the folium / Leaflet map), and
#   2. the `snakemake --report` HTML, built here into OUTDIR/report.html,
# then checks each PNG is not blank and, for the interactive map, that Leaflet built the
# map (the DOM after JavaScript holds the map container, both image overlays and the
# candidate polygons when there are any).
#
# Offline machines: the interactive map loads Leaflet from a CDN. When Debian's
# libjs-leaflet is installed (apt-get install -y libjs-leaflet), the check renders a copy
# whose CDN links point at /usr/share/javascript/leaflet instead (and drops the other CDN
# styles, which the map does not need). Needs: apt-get install -y chromium.
set -euo pipefail

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [[ -z "$CHROMIUM" ]]; then
    echo "chromium not found: apt-get install -y chromium" >&2
    exit 2
fi
PYTHON=${PYTHON:-python}

render() {  # render HTML PNG [width height]
    local html=$1 png=$2 width=${3:-1400} height=${4:-2000} profile
    profile=$(mktemp -d)
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --hide-scrollbars --virtual-time-budget=15000 \
        --screenshot="$png" --window-size="$width,$height" "file://$(realpath "$html")" \
        >/dev/null 2>&1 || true
    rm -rf "$profile"
    [[ -s "$png" ]] || { echo "FAIL: chromium wrote no screenshot of $html" >&2; return 1; }
}

dump_dom() {  # dump_dom HTML -> DOM after JavaScript on stdout
    local profile
    profile=$(mktemp -d)
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --virtual-time-budget=15000 --dump-dom \
        "file://$(realpath "$1")" 2>/dev/null || true
    rm -rf "$profile"
}

not_blank() {  # not_blank PNG MIN_FRACTION: fail if too few pixels differ from the background
    "$PYTHON" - "$1" "$2" <<'EOF'
import sys

import numpy as np
from PIL import Image

img = np.asarray(Image.open(sys.argv[1]).convert("RGB")).astype(int)
bg = np.median(img.reshape(-1, 3), axis=0)
frac = float((np.abs(img - bg).sum(axis=2) > 30).mean())
print(f"{sys.argv[1]}: {img.shape[1]}x{img.shape[0]} px, {100 * frac:.1f}% non-background")
sys.exit(0 if frac >= float(sys.argv[2]) else 1)
EOF
}

offline_copy() {  # offline_copy HTML -> path of a copy that uses the local Leaflet
    local html=$1 local_js=/usr/share/javascript/leaflet
    if [[ ! -f $local_js/leaflet.js ]]; then
        echo "$html"
        return
    fi
    local copy
    copy="$(dirname "$html")/.offline_$(basename "$html")"
    "$PYTHON" - "$html" "$copy" "$local_js" <<'EOF'
import re
import sys

src, dst, local = sys.argv[1:]
text = open(src, encoding="utf-8").read()
text = re.sub(r'src="https://[^"]*/leaflet(@[^/]*)?/dist/leaflet\.js"', f'src="file://{local}/leaflet.js"', text)
text = re.sub(r'href="https://[^"]*/leaflet(@[^/]*)?/dist/leaflet\.css"', f'href="file://{local}/leaflet.css"', text)
# drop the other CDN scripts and styles (jQuery, Bootstrap, icons): the map does not use them
text = re.sub(r'<script src="https://[^"]*"></script>', "", text)
text = re.sub(r'<link rel="stylesheet" href="https://[^"]*"/>', "", text)
open(dst, "w", encoding="utf-8").write(text)
EOF
    echo "$copy"
}

check_interactive_map() {  # check_interactive_map HTML PNG
    local html=$1 png=$2 page dom
    page=$(offline_copy "$html")
    render "$page" "$png" 1400 1000
    dom=$(dump_dom "$page")
    [[ "$page" != "$html" ]] && rm -f "$page"
    local ok=1
    grep -q 'leaflet-container' <<<"$dom" || { echo "FAIL: Leaflet did not start" >&2; ok=0; }
    local n_img
    n_img=$(grep -o 'leaflet-image-layer' <<<"$dom" | wc -l)
    [[ $n_img -ge 2 ]] || { echo "FAIL: $n_img image overlays (want classes + hillshade)" >&2; ok=0; }
    local n_poly
    n_poly=$(grep -o '<path class="leaflet-interactive"' <<<"$dom" | wc -l)
    echo "interactive map: Leaflet started, $n_img image overlays, $n_poly candidate polygons"
    not_blank "$png" 0.05 || { echo "FAIL: $png is blank" >&2; ok=0; }
    [[ $ok == 1 ]]
}

if [[ ${1:-} == --html ]]; then
    render "$2" "$3"
    not_blank "$3" 0.02
    exit
fi

STUDY=${1:-demo}
OUT=${2:-results/$STUDY/report/render}
mkdir -p "$OUT"
status=0

MAP=results/$STUDY/report/interactive_map.html
if [[ -f $MAP ]]; then
    check_interactive_map "$MAP" "$OUT/interactive_map.png" || status=1
else
    echo "FAIL: $MAP does not exist (run the workflow first)" >&2
    status=1
fi

# The snakemake report of the finished run (a self-contained HTML page).
if "$PYTHON" -m snakemake --report "$OUT/report.html" ${SNAKEMAKE_ARGS:-} >"$OUT/report.log" 2>&1; then
    render "$OUT/report.html" "$OUT/report.png" 1400 2000 || status=1
    not_blank "$OUT/report.png" 0.02 || { echo "FAIL: the report renders blank" >&2; status=1; }
    echo "snakemake report: $OUT/report.html -> $OUT/report.png"
    # The app shows one section at a time (no URL per section): lay each category out on a
    # static page, render it, and check in the DOM that no section is empty and every image
    # decoded.
    here=$(dirname "$(realpath "$0")")
    n_pages=0
    while read -r page height; do
        png=${page%.html}.png
        render "$page" "$png" 1400 "$height" || status=1
        summary=$(dump_dom "$page" | grep -o 'sections=[0-9][^<]*' | head -1 || true)
        echo "report section $(basename "$page"): $summary -> $png"
        read -r n_sec n_empty n_img n_ok _ < <(sed -E 's/[a-z]+=//g' <<<"$summary") || true
        if [[ -z "${n_sec:-}" || "$n_sec" -lt 1 || "$n_empty" != 0 || "$n_ok" != "$n_img" ]]; then
            echo "FAIL: section $page is empty or an image did not decode" >&2
            status=1
        fi
        n_pages=$((n_pages + 1))
    done < <("$PYTHON" "$here/report_sections.py" "$OUT/report.html" "$OUT/report_section")
    [[ $n_pages -gt 0 ]] || { echo "FAIL: the report has no result section" >&2; status=1; }
else
    echo "FAIL: snakemake --report failed, see $OUT/report.log" >&2
    status=1
fi
exit $status
