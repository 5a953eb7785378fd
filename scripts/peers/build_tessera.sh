#!/bin/sh
# Builds the peers of scripts/bench_peers.py into BIN: Tessera's POSIX conformance server (v1.0.4,
# as shipped: `posix`; with flags for its batch size, batch age and checkpoint interval:
# `posix-tuned`), and this folder's loadgen and tessera_tool, with Go 1.26 -- all from Debian's
# packages (forky), the only network this needs. Nothing is installed system-wide: the packages
# are fetched with `apt-get download` under a private apt state and unpacked into WORK/root.
#
#   scripts/peers/build_tessera.sh BIN [WORK]      # WORK defaults to BIN/.build; ~3 minutes
#
# STAGE=download|build|all (default all); DEBIAN_MIRROR overrides the mirror. BIN/VERSIONS.txt
# lists the packages' versions. Go's module proxy is not used: GOPATH mode over the packaged
# sources (GO111MODULE=off), with `//go:debug default=go1.24` as Tessera's go.mod asks (without
# it Go applies its go1.20 defaults in GOPATH mode, and the old ServeMux answers POST /add 404).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 BIN [WORK]" >&2; exit 2; }
mkdir -p "$1"
BIN=$(cd "$1" && pwd)
WORK=${2:-$BIN/.build}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$WORK/root
APT=$WORK/apt
SRC=$(cd "$(dirname "$0")" && pwd)     # loadgen.go, tessera_tool.go
WORKDIR=$WORK/src                       # build folders (posixconf, posixtuned, loadgen, tessera_tool)
STAGE=${STAGE:-all}
NICE="nice -n 10"

PKGS="golang-1.26-go golang-1.26-src golang-github-transparency-dev-tessera-dev
  golang-github-transparency-dev-merkle-dev golang-github-transparency-dev-formats-dev golang-golang-x-mod-dev
  golang-golang-x-sync-dev golang-golang-x-crypto-dev golang-golang-x-net-dev golang-golang-x-text-dev
  golang-golang-x-sys-dev golang-golang-x-exp-dev golang-opentelemetry-otel-dev golang-github-go-logr-logr-dev
  golang-github-go-logr-stdr-dev golang-github-cenkalti-backoff-v5-dev golang-k8s-klog-dev
  golang-github-hashicorp-golang-lru-v2-dev golang-github-google-go-cmp-dev golang-github-cespare-xxhash-v2-dev
  golang-github-dgraph-io-badger-dev golang-github-dgraph-io-ristretto-dev golang-github-dustin-go-humanize-dev
  golang-github-google-flatbuffers-dev golang-github-klauspost-compress-dev golang-google-protobuf-dev"
EXTRA_PKGS="${EXTRA_PKGS:-}"

APTO="-o Dir::Etc::SourceList=$APT/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$APT/lists -o Dir::Cache=$APT/cache"

if [ "$STAGE" = all ] || [ "$STAGE" = download ]; then
  mkdir -p $APT/lists/partial $APT/cache/archives/partial $APT/debs $ROOT
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR forky main" > $APT/sources.list
  apt-get $APTO update
  (cd $APT/debs && apt-get $APTO download -t forky $PKGS $EXTRA_PKGS)
  for d in $APT/debs/*.deb; do dpkg-deb -x "$d" $ROOT; done
  # record versions
  {
    echo "# Debian forky packages downloaded by build.sh ($(date -u +%Y-%m-%dT%H:%M:%SZ)), mirror $DEBIAN_MIRROR"
    for d in $APT/debs/*.deb; do dpkg-deb -f "$d" Package Version | paste -sd' ' -; done
  } > $BIN/VERSIONS.txt
fi

if [ "$STAGE" = all ] || [ "$STAGE" = build ]; then
  export GOROOT=$ROOT/usr/lib/go-1.26 PATH=$ROOT/usr/lib/go-1.26/bin:$PATH GO111MODULE=off \
         GOPATH=$ROOT/usr/share/gocode GOTOOLCHAIN=local GOFLAGS= GOCACHE=${GOCACHE:-$WORKDIR/gocache}
  unset GOFLAGS
  export GOMAXPROCS=${GOMAXPROCS:-1}   # keep the build gentle on a shared machine
  go version
  mkdir -p $WORKDIR/posixconf $WORKDIR/posixtuned $WORKDIR/loadgen $WORKDIR/tessera_tool $BIN
  # 1. posix: verbatim main.go + go:debug file
  cp $GOPATH/src/github.com/transparency-dev/tessera/cmd/conformance/posix/main.go $WORKDIR/posixconf/
  printf '//go:debug default=go1.24\n\npackage main\n' > $WORKDIR/posixconf/godebug.go
  (cd $WORKDIR/posixconf && $NICE go build -p 1 -o $BIN/posix .)
  # 2. posix-tuned: sed edit + three flags appended
  sed 's/WithBatching(256, time.Second)/WithBatching(uint(*batchMaxSize), *batchMaxAge)/; s/WithCheckpointInterval(time.Second)/WithCheckpointInterval(*cpInterval)/' \
      $WORKDIR/posixconf/main.go > $WORKDIR/posixtuned/main.go
  cat >> $WORKDIR/posixtuned/main.go <<'GOEOF'

var (
	batchMaxSize = flag.Uint("batch_max_size", 256, "Maximum number of entries in a sequencing batch")
	batchMaxAge  = flag.Duration("batch_max_age", time.Second, "Maximum age of a sequencing batch before it is flushed")
	cpInterval   = flag.Duration("checkpoint_interval", time.Second, "Interval between checkpoint publications")
)
GOEOF
  cp $WORKDIR/posixconf/godebug.go $WORKDIR/posixtuned/
  # the sed must have changed both calls
  grep -q 'WithBatching(uint(\*batchMaxSize), \*batchMaxAge)' $WORKDIR/posixtuned/main.go
  grep -q 'WithCheckpointInterval(\*cpInterval)' $WORKDIR/posixtuned/main.go
  (cd $WORKDIR/posixtuned && $NICE go build -p 1 -o $BIN/posix-tuned .)
  # 3. loadgen and tessera_tool, each in its own folder
  cp $SRC/loadgen.go $WORKDIR/loadgen/
  cp $SRC/tessera_tool.go $WORKDIR/tessera_tool/
  (cd $WORKDIR/loadgen && $NICE go build -p 1 -o $BIN/loadgen .)
  (cd $WORKDIR/tessera_tool && $NICE go build -p 1 -o $BIN/tessera_tool .)
  ls -l $BIN/posix $BIN/posix-tuned $BIN/loadgen $BIN/tessera_tool
fi
