#!/bin/sh
# pkg build step of images/kernel-lean: unpack Debian's kernel source,
# merge the config fragments over allnoconfig with the kernel's own
# merge_config.sh, build, and lay out boot/ and lib/modules/ in $OUT for
# the kernel layout step. Runs with $ROOTFS (the unpacked .deb), $OUT,
# $SRC (this folder), $BUILD_CACHE (kept between builds), $HOME (scratch)
# and the KBUILD_* variables that make the build reproducible.
set -eu

tarball=$(ls "$ROOTFS"/usr/src/linux-source-*.tar.xz)
# The object tree is kept in the build cache, one per source tarball, so a
# rebuild after a fragment change recompiles only what the change touches.
# Builds from a clean tree give the same bytes (see README.md).
mkdir -p "$BUILD_CACHE"
exec 9>"$BUILD_CACHE/lock"
flock 9
tree="$BUILD_CACHE/linux-$(sha256sum "$tarball" | cut -c1-16)"
for d in "$BUILD_CACHE"/linux-*; do
	[ "$d" = "$tree" ] || rm -rf "$d"
done
if [ ! -e "$tree/.unpacked" ]; then
	echo "kernel-lean: unpacking $(basename "$tarball")"
	rm -rf "$tree"
	mkdir -p "$tree"
	tar -xJf "$tarball" -C "$tree" --strip-components=1
	touch "$tree/.unpacked"
fi
cd "$tree"

fragments=$(ls "$SRC/$FRAGMENTS"/*.config | sort)
echo "kernel-lean: allnoconfig + $(for f in $fragments; do printf '%s ' "$(basename "$f")"; done)"
./scripts/kconfig/merge_config.sh -n $fragments >"$HOME/merge.log" 2>&1 || { cat "$HOME/merge.log" >&2; exit 1; }
# An option a fragment asks for that Kconfig drops (a missing dependency)
# would otherwise go unnoticed: fail, naming it.
if grep -q 'not in final .config' "$HOME/merge.log"; then
	grep -A2 'not in final .config' "$HOME/merge.log" >&2
	echo "kernel-lean: the fragments ask for options the merged config does not have (above)" >&2
	exit 1
fi

# The kernel is meant to boot with no module: a fragment asking for =m is a mistake.
if grep -q '=m$' .config; then
	grep '=m$' .config >&2
	echo "kernel-lean: the merged config has modules (above); build them in (=y)" >&2
	exit 1
fi

jobs=$(nproc)
echo "kernel-lean: make -j$jobs ($(grep -c '=y$' .config) options built in)"
make -s -j"$jobs" &
make_pid=$!
# a line a minute: objects built so far (about 1,700 in all)
while sleep 60 </dev/null >/dev/null 2>&1 && kill -0 "$make_pid" 2>/dev/null; do
	echo "kernel-lean: $(find . -name '*.o' -newer .config | wc -l) objects built"
done &
ticker=$!
status=0
wait "$make_pid" || status=$?
kill "$ticker" 2>/dev/null || true
[ "$status" = 0 ] || { echo "kernel-lean: make failed (exit $status)" >&2; exit "$status"; }
release=$(make -s kernelrelease)

mkdir -p "$OUT/boot"
cp arch/x86/boot/bzImage "$OUT/boot/vmlinuz-$release"
cp .config "$OUT/boot/config-$release"
# Nothing is a module, so there is nothing for modules_install to copy but
# the lists the build wrote (depmod runs in the layout step, over them).
mods="$OUT/lib/modules/$release"
mkdir -p "$mods"
for f in modules.builtin modules.builtin.modinfo modules.order; do
	if [ -e "$f" ]; then cp "$f" "$mods/"; fi
done
echo "kernel-lean: $release, bzImage $(wc -c <arch/x86/boot/bzImage) bytes"
