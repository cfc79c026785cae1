#!/usr/bin/env bash
# Installs sdmm into a scratch prefix, then builds a consumer against it twice:
# with CMake's find_package(sdmm) and with pkg-config.
set -euo pipefail
src=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
cmake -S "$src" -B "$work/build" -G Ninja -DSDMM_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
cmake --install "$work/build" >/dev/null

mkdir -p "$work/consumer"
cat > "$work/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer CXX)
find_package(sdmm 0.1 REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE sdmm::sdmm)
CM
cat > "$work/consumer/main.cpp" <<'CPP'
#include <sdmm/sdmm.hpp>
int main() {
    alignas(8) std::byte arena[4096];
    auto heap = sdmm::Heap::create(arena);
    if (!heap) return 1;
    auto b = heap->alloc_u32(10);
    return b && b->size() == 10 && b->span()[9] == 0 ? 0 : 2;
}
CPP
cmake -S "$work/consumer" -B "$work/consumer/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer/build" >/dev/null
"$work/consumer/build/consumer"
echo "find_package consumer: ok"

PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" c++ -std=c++23 "$work/consumer/main.cpp" \
  $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs sdmm) -o "$work/pc-consumer"
"$work/pc-consumer"
echo "pkg-config consumer: ok"
