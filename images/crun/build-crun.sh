#!/bin/sh
# Build a static crun from Debian's source ($SOURCES/crun, Debian's patches
# applied) into $OUT/usr/bin/crun. The static libraries come from the build
# host's -dev packages (.ci/install lists them).
set -eu
missing=
for p in gcc make pkg-config libseccomp-dev libcap-dev libyajl-dev libgcrypt20-dev libgpg-error-dev; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "crun's build needs:$missing (apt-get install them; .ci/install lists them)" >&2
	exit 1
fi
cd "$SOURCES/crun"
# No build path may reach the binary: the same source gives the same bytes.
export CFLAGS="-O2 -ffile-prefix-map=$PWD=."
./configure -q --disable-systemd --disable-criu --disable-shared --enable-static \
	--disable-dependency-tracking >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
# Debian's libyajl-dev names its static library libyajl_s.a.
mkdir -p static
ln -sf "/usr/lib/$(gcc -print-multiarch)/libyajl_s.a" static/libyajl.a
make -s -j"$(nproc)" LDFLAGS="-all-static -s -L$PWD/static" LIBS="-lgpg-error" >make.log 2>&1 || { grep -v warning make.log | tail -20 >&2; exit 1; }
file_type=$(od -An -tx1 -j16 -N2 crun | tr -d ' ')
[ "$file_type" = 0200 ] || { echo "crun is not a static executable (ELF type $file_type)" >&2; exit 1; }
install -D -m 0755 crun "$OUT/usr/bin/crun"
echo "crun $(./crun --version | head -1 | cut -d' ' -f3), static, $(wc -c <crun) bytes"
