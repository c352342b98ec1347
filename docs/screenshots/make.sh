#!/bin/sh
# Regenerates the portal's screenshots in this folder: the browser test
# (tests/browser.rs) walks the applicant's journey in headless Chromium and,
# with CLICKDAY_SCREENSHOTS set, saves each page it reaches at 1280 px
# (desktop) and 390 px (a phone). Needs chromium and chromium-driver.
#   docs/screenshots/make.sh
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
CLICKDAY_SCREENSHOTS="$here" cargo test --test browser -- --nocapture
ls "$here"/*.png
