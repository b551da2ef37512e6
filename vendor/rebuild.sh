#!/usr/bin/env bash
# Rebuilds vendor/<crate> from the crates.io release (checked against its published SHA-256) plus
# vendor/patches/<crate>.diff, so the only part of vendor/ anyone needs to read is the diffs.
#
#   bash vendor/rebuild.sh           rewrite vendor/<crate> from the release and the patch
#   bash vendor/rebuild.sh --check   fail unless vendor/<crate> is exactly that, and unless Cargo.lock still builds
#                                    the patched copy (an upgraded sqlx would silently drop the patch: cargo only warns)
#
# To move to a new sqlx release: change VERSION and the checksums below, run without --check, resolve what no longer
# applies, regenerate the diffs (see vendor/README.md), and re-measure (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.9.0
declare -A SHA256=(
  [sqlx-core]=05b44e85bf579a8eeb4ceaa77a3a523baf2bf0e9bac7e40f405d537b5d2d5ccb
  [sqlx-postgres]=87a2bdd6e83f6b3ea525ca9fee568030508b58355a43d0b2c1674d5f79dcd65e
)
# What a .crate holds that the vendored copy leaves out (cargo regenerates or ignores them).
PACKAGING=(.cargo_vcs_info.json Cargo.lock Cargo.toml.orig)

check=false
[ "${1:-}" = "--check" ] && check=true
die() { printf 'vendor: %s\n' "$*" >&2; exit 1; }

cache=target/vendor-cache
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for crate in "${!SHA256[@]}"; do
  file="$cache/$crate-$VERSION.crate"
  if [ ! -f "$file" ] || ! echo "${SHA256[$crate]}  $file" | sha256sum -c --quiet - 2>/dev/null; then
    curl -sSfL --retry 3 -o "$file" "https://static.crates.io/crates/$crate/$crate-$VERSION.crate" \
      || die "cannot download $crate $VERSION from crates.io"
  fi
  echo "${SHA256[$crate]}  $file" | sha256sum -c --quiet - || die "$crate-$VERSION.crate does not match its checksum"
  tar -xzf "$file" -C "$work"
  tree="$work/$crate-$VERSION"
  for f in "${PACKAGING[@]}"; do rm -f "$tree/$f"; done
  patch="vendor/patches/$crate.diff"
  [ -s "$patch" ] || die "$patch is missing or empty: a vendored crate without a change should not be vendored"
  (cd "$tree" && git apply -p1 --whitespace=nowarn "$OLDPWD/$patch") || die "$patch no longer applies to $crate $VERSION"
  if $check; then
    diff -r "$tree" "vendor/$crate" >/dev/null \
      || { diff -ru "$tree" "vendor/$crate" | head -40 || true; die "vendor/$crate is not $crate $VERSION plus $patch"; }
    echo "vendor/$crate = $crate $VERSION from crates.io + $patch"
  else
    rm -rf "vendor/$crate"
    cp -r "$tree" "vendor/$crate"
    echo "rebuilt vendor/$crate from $crate $VERSION + $patch"
  fi
done

if $check; then
  # The lock must build the patched copies: the patched version, and no registry source for it.
  for crate in "${!SHA256[@]}"; do
    entry=$(awk -v name="$crate" '$0 == "[[package]]" { p = 0 } $0 == "name = \"" name "\"" { p = 1 } p' Cargo.lock)
    [ -n "$entry" ] || die "Cargo.lock has no $crate"
    grep -qx "version = \"$VERSION\"" <<<"$entry" || die "Cargo.lock builds $crate $(grep -o '[0-9][0-9.]*' <<<"$entry" | head -1), not the patched $VERSION"
    ! grep -q '^source = ' <<<"$entry" || die "Cargo.lock takes $crate from a registry: the patch in vendor/$crate is unused"
  done
  ! grep -q '^\[\[patch.unused\]\]' Cargo.lock || die "Cargo.lock lists an unused patch: $(grep -A2 '^\[\[patch.unused\]\]' Cargo.lock | tr '\n' ' ')"
  echo "Cargo.lock builds the patched sqlx $VERSION"
fi
