#!/usr/bin/env bash
# Installs what is missing (Debian 12, apt only) and builds cairn into
# build/ (or $CAIRN_BUILD). Idempotent: a second run installs nothing and
# rebuilds only what changed. Extra arguments go to cmake's configure step.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CAIRN_BUILD:-$top/build}

packages=(build-essential cmake ninja-build pkg-config libprotobuf-c-dev protobuf-c-compiler
	libevent-dev libzstd-dev libssl-dev libbsd-dev python3 python3-pytest
	python3-fsspec python3-pandas python3-dask python3-numpy clang libclang-rt-14-dev
	openssl file libfuse3-dev fuse3 rsync lighttpd prometheus python3-boto3 s3cmd rclone
	awscli curl chromium chromium-driver python3-selenium)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bootstrap: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -f "$build/build.ninja" ]; then
	cmake -S "$top" -B "$build" -G Ninja "$@" >/dev/null
elif [ $# -gt 0 ]; then
	cmake "$build" "$@" >/dev/null
fi
cmake --build "$build"
