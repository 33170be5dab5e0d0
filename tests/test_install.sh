#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR: installs the built library into a
# temporary prefix (cmake --install --prefix) and builds tests/install/main.c
# against it the ways a user would: with CMake (find_package(mproc), both the
# shared mproc::mproc and the static mproc::mproc_static) and with pkg-config
# (`pkg-config --cflags --libs mproc`). Each program must link and run.
# The CMake consumer runs in a bare environment (env -i, a PATH without
# pkg-config), the pkg-config one sees only the installed mproc.pc
# (PKG_CONFIG_LIBDIR): neither may need msgpack-c, which the library uses
# through its header only (checked with nm), nor anything but libcrypto and
# threads for the static library. The licence must be installed and named.
# Uses the build's compiler and, for a sanitizer build, its sanitizer flags
# (an instrumented library needs an instrumented program). Skips (77) when
# cmake or pkg-config is missing. The temporary directory is always removed.
set -u
build="$(cd "${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR}" && pwd)"
src="$(cd "${2:?usage: test_install.sh BUILD_DIR SOURCE_DIR}" && pwd)"

for tool in cmake pkg-config; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done

cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
cc="$(cache CMAKE_C_COMPILER)"
[ -n "$cc" ] || cc=cc
san=()
[ "$(cache MP_ASAN)" = ON ] && san+=(address)
[ "$(cache MP_UBSAN)" = ON ] && san+=(undefined)
[ "$(cache MP_TSAN)" = ON ] && san+=(thread)
cflags=""
if [ ${#san[@]} -gt 0 ]; then
  cflags="-fsanitize=$(IFS=,; echo "${san[*]}") -fno-omit-frame-pointer"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/mproc-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
fail=0

step() { echo "--- $*"; }
die() { echo "FAIL: $*"; fail=1; }

step "cmake --install $build --prefix $prefix"
if ! cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL: cmake --install"
  exit 1
fi
for f in include/mproc.h include/mproc/version.h; do
  [ -f "$prefix/$f" ] || die "$f was not installed"
done
pcfile="$(find "$prefix" -name mproc.pc -path '*/pkgconfig/*' | head -n 1)"
cfgfile="$(find "$prefix" -name mprocConfig.cmake | head -n 1)"
[ -n "$pcfile" ] || die "mproc.pc was not installed"
[ -n "$cfgfile" ] || die "mprocConfig.cmake was not installed"
libdir="$(dirname "$(dirname "${pcfile:-$prefix/lib/pkgconfig/x}")")"

# run NAME PROGRAM: the program must print "mproc <version> ok" and exit 0.
run() {
  local out
  if ! out="$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$2" 2>&1)"; then
    die "$1: the program failed: $out"
  elif [[ "$out" != "mproc "*" ok" ]]; then
    die "$1: unexpected output: $out"
  else
    echo "$1: $out"
  fi
}

# ---- what the package says about itself ---------------------------------
step "licence, dependencies"
[ -f "$prefix/share/doc/mproc/LICENSE" ] || die "LICENSE was not installed in share/doc/mproc"
grep -q '^License: MIT' "${pcfile:-/dev/null}" || die "mproc.pc does not name the licence"
grep -q 'mproc_LICENSE "MIT"' "${cfgfile:-/dev/null}" || die "mprocConfig.cmake does not name the licence"
for f in "${pcfile:-/dev/null}" "${cfgfile:-/dev/null}"; do
  grep -v '^[[:space:]]*#' "$f" | grep -qi msgpack && die "${f##*/} requires msgpack"
done
if command -v nm >/dev/null 2>&1; then
  und="$(nm -u "$libdir/libmproc.a" 2>/dev/null | grep -i msgpack)"
  [ -z "$und" ] || die "libmproc.a needs msgpack symbols: $und"
  und="$(nm -D --undefined-only "$libdir/libmproc.so" | grep -i msgpack)"
  [ -z "$und" ] || die "libmproc.so needs msgpack symbols: $und"
fi

# A PATH of links to every program on this PATH except pkg-config: the
# CMake consumer must not need it.
bare="$tmp/bin"
mkdir -p "$bare"
IFS=: read -r -a pathdirs <<<"$PATH"
for d in "${pathdirs[@]}"; do
  for f in "$d"/*; do
    b="${f##*/}"
    case "$b" in pkg-config | pkgconf | *-pkg-config | *-pkgconf) continue ;; esac
    [ -x "$f" ] && [ ! -e "$bare/$b" ] && ln -s "$f" "$bare/$b"
  done
done
bare_env=(env -i "HOME=$tmp" "PATH=$bare" "TMPDIR=${TMPDIR:-/tmp}")

# ---- CMake: find_package(mproc) -> mproc::mproc / mproc::mproc_static -----
for target in mproc::mproc mproc::mproc_static; do
  dir="$tmp/cmake-${target#mproc::}"
  step "CMake consumer linking $target (bare environment, no pkg-config)"
  if "${bare_env[@]}" cmake -S "$src/tests/install" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
       -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" \
       -DMPROC_TARGET="$target" >"$dir.log" 2>&1 &&
     "${bare_env[@]}" cmake --build "$dir" >>"$dir.log" 2>&1; then
    run "cmake $target" "$dir/consumer"
  else
    cat "$dir.log"
    die "CMake consumer with $target did not build"
  fi
done

# ---- pkg-config ----------------------------------------------------------
step "pkg-config consumer (only mproc.pc visible)"
export PKG_CONFIG_LIBDIR="$(dirname "${pcfile:-$prefix/lib/pkgconfig/x}")"
unset PKG_CONFIG_PATH
if flags="$(pkg-config --cflags --libs mproc 2>&1)"; then
  echo "pkg-config --cflags --libs mproc: $flags"
  case "$flags" in
    *"-I$prefix/"*) ;;
    *) die "pkg-config's flags do not point into the install prefix" ;;
  esac
  # shellcheck disable=SC2086 # the flags are words on purpose
  if $cc $cflags -o "$tmp/consumer-pc" "$src/tests/install/main.c" $flags \
       >"$tmp/pc.log" 2>&1; then
    run "pkg-config" "$tmp/consumer-pc"
  else
    cat "$tmp/pc.log"
    die "the pkg-config consumer did not build"
  fi
else
  die "pkg-config --cflags --libs mproc: $flags"
fi
# A static link needs the private dependencies: they must resolve.
if ! static="$(pkg-config --static --libs mproc 2>&1)"; then
  die "pkg-config --static --libs mproc: $static"
else
  case " $static " in
    *" -lcrypto "*) echo "pkg-config --static --libs mproc: $static" ;;
    *) die "pkg-config --static does not list libcrypto: $static" ;;
  esac
fi

# ---- the MPI pool library, when it was built: mproc::mpi, mproc-mpi ------
if [ -f "$(dirname "${pcfile:-$prefix/lib/pkgconfig/x}")/mproc-mpi.pc" ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  runmpi() { # NAME PROGRAM: a singleton, "mproc-mpi <version> ok"
    local out
    # LeakSanitizer off, as for the MPI tests (cmake/mproc_mpi.cmake): Open
    # MPI's unloaded plugins leave leaks no suppression can name.
    if ! out="$(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
        LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" timeout 60 "$2" 2>&1)" ||
       [[ "$out" != *"mproc-mpi "*" ok"* ]]; then
      die "$1: $out"
    else
      echo "$1: ${out##*$'\n'}"
    fi
  }
  dir="$tmp/cmake-mpi"
  step "CMake consumer linking mproc::mpi"
  if cmake -S "$src/tests/install/mpi" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
       -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" >"$dir.log" 2>&1 &&
     cmake --build "$dir" >>"$dir.log" 2>&1; then
    runmpi "cmake mproc::mpi" "$dir/consumer_mpi"
  else
    cat "$dir.log"
    die "CMake consumer with mproc::mpi did not build"
  fi
  step "pkg-config consumer of mproc-mpi"
  if flags="$(pkg-config --cflags --libs mproc-mpi 2>&1)" &&
     $cc $cflags -o "$tmp/consumer-mpi-pc" "$src/tests/install/mpi/main.c" $flags \
       >"$tmp/pc-mpi.log" 2>&1; then
    runmpi "pkg-config mproc-mpi" "$tmp/consumer-mpi-pc"
  else
    cat "$tmp/pc-mpi.log" 2>/dev/null
    die "the pkg-config consumer of mproc-mpi did not build: $flags"
  fi
fi

[ $fail -eq 0 ] && echo "PASS: installed package usable with CMake and pkg-config"
exit $fail
