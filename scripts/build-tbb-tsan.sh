#!/usr/bin/env bash
# Builds oneTBB with ThreadSanitizer from Debian's source package of the
# installed libtbb-dev version, and prints the install prefix.
#
# Why: Debian's libtbb is not instrumented, so TSan cannot see the
# happens-before edges that oneTBB's scheduler creates when it hands a task to
# a worker; every parallel_for body then looks like a race. Linking the TSan
# build of sparq against an instrumented oneTBB of the same version makes its
# reports mean something.
#
#   scripts/build-tbb-tsan.sh            # prints the prefix (for -DTBB_DIR=...)
#
# The result is cached per version in $SPARQ_CACHE_DIR (default
# ~/.cache/sparq), so only the first run on a machine builds (about 2 minutes
# on 2 cores); the source comes from deb.debian.org through a private apt
# source list, leaving the system's apt configuration untouched.
set -euo pipefail

version=$(dpkg-query -W -f='${Version}' libtbb-dev 2>/dev/null || true)
if [[ -z $version ]]; then
  echo "build-tbb-tsan.sh: libtbb-dev is not installed (run scripts/install-deps.sh)" >&2
  exit 2
fi
cache=${SPARQ_CACHE_DIR:-$HOME/.cache/sparq}
prefix=$cache/onetbb-$version-tsan
if [[ -f $prefix/.complete ]]; then
  echo "$prefix"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sparq-tbb-tsan.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A private apt configuration that knows Debian's source archive, so
# `apt-get source` works without a deb-src line in the system's lists.
mkdir -p "$work/apt/parts" "$work/apt/lists/partial"
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
cat >"$work/apt/parts/debian-src.sources" <<SOURCES
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/none" -o "Dir::Etc::SourceParts=$work/apt/parts"
  -o "Dir::State::Lists=$work/apt/lists" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$work" && apt-get "${apt_opts[@]}" -qq source --download-only "onetbb=$version" >&2)

upstream=${version%%-*}
tar -xf "$work"/onetbb_"$upstream".orig.tar.* -C "$work"
src=$(find "$work" -maxdepth 1 -type d -name 'oneTBB-*' | head -n1)
tar -xf "$work"/onetbb_"$version".debian.tar.* -C "$src"
if [[ -f $src/debian/patches/series ]]; then
  while read -r patch _; do
    [[ -z $patch || $patch == \#* ]] && continue
    patch -d "$src" -p1 -s <"$src/debian/patches/$patch" >&2
  done <"$src/debian/patches/series"
fi

cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DTBB_SANITIZE=thread -DTBB_TEST=OFF -DTBB_STRICT=OFF \
  -DTBBMALLOC_BUILD=OFF -DTBB_ENABLE_IPO=OFF >&2
cmake --build "$work/build" -j "$(nproc)" >&2
rm -rf "$prefix"
cmake --install "$work/build" >&2
touch "$prefix/.complete"
echo "$prefix"
