#!/bin/sh
# Prints the package version. A tag vX.Y.Z on HEAD gives X.Y.Z; otherwise
# packaging/VERSION plus +git<commits>.<hash>, so later commits sort later
# (dpkg --compare-versions) and a .deb version starts with a digit.
set -eu
cd "$(dirname "$0")/.."
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
	v=${tag#v}
else
	base=$(cat packaging/VERSION)
	n=$(git rev-list --count HEAD 2>/dev/null || echo 0)
	h=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	v="$base+git$n.$h"
fi
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	v="$v.dirty"
fi
echo "$v"
