// source.hpp -- where the `sdmm` tool finds a heap: the bytes of a file, a
// POSIX shared-memory object mapped read-only, a Solana account (raw data or
// the JSON of RPC getAccountInfo) or a BPF pool dump, and where the arena
// starts inside them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sdmm_shared_layout.h"

namespace sdmm_cli {

// The BPF pool dump format (cli/README.md): a 32-byte header, then the value
// of the `.data.sdmm_pool` array map (the pool, then its slack bytes).
inline constexpr uint64_t kBpfDumpMagic = 0x314650424D4D4453ull;  // "SDMMBPF1" as a little-endian u64
inline constexpr std::size_t kBpfDumpHeaderBytes = 32;
inline constexpr uint32_t kBpfDumpVersion = 1;

// Little-endian fields at any alignment, from bytes the tool does not trust.
inline uint32_t load32(const uint8_t *p) {
    uint32_t v = 0;
    std::memcpy(&v, p, 4);
    return v;
}
inline uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    std::memcpy(&v, p, 8);
    return v;
}

enum class Kind { File, Shm, Solana, Bpf };
const char *kind_name(Kind k);

// Bytes of a source, 8-aligned, read-only. Either owned (a file read into
// memory) or a read-only shared mapping.
class Bytes {
  public:
    Bytes() = default;
    Bytes(const Bytes &) = delete;
    Bytes &operator=(const Bytes &) = delete;
    Bytes(Bytes &&other) noexcept;
    Bytes &operator=(Bytes &&other) noexcept;
    ~Bytes();

    static Bytes owned(std::vector<uint64_t> words, std::size_t len);
    static Bytes mapped(const void *addr, std::size_t len);

    const uint8_t *data() const { return data_; }
    std::size_t size() const { return len_; }

  private:
    std::vector<uint64_t> words_;
    const uint8_t *data_ = nullptr;
    std::size_t len_ = 0;
    const void *map_ = nullptr;  // munmap on destruction when set
    std::size_t map_len_ = 0;
};

// The memory-service account layout, when the source has one.
struct ServiceLayout {
    bool present = false;
    uint32_t slots = 0;
    uint32_t owners = 0;  // slots in use, as recorded (may be damaged)
    uint64_t default_quota = 0;
    uint8_t authority[32] = {};
};

// A process-shared heap segment (ffi/sdmm_shared_layout.h), when the source
// is one: copies of its header and state counters, read once, and the
// geometry they were checked against (every offset inside the source).
struct SharedLayout {
    bool present = false;
    sdmm_shm_header header{};
    sdmm_shm_state state{};
    sdmm_shm_geometry geometry{};
};

struct Source {
    Kind kind = Kind::File;
    std::string name;    // path or shm name
    std::string format;  // what was recognised: "raw arena", "memory-service account", ...
    Bytes bytes;         // the whole source
    std::size_t arena_offset = 0;
    std::size_t arena_len = 0;  // bytes from arena_offset to the end of the source (or the pool)
    ServiceLayout service;
    SharedLayout shared;
};

// Opens SPEC ("PATH", "file:PATH", "shm:NAME", "solana:PATH", "bpf:PATH").
// `offset`: an explicit arena offset (or SIZE_MAX to find it). On failure
// returns false with a message in *error; never reads outside the source.
bool open_source(const std::string &spec, std::size_t offset, Source *out, std::string *error);

// Helpers exposed for the tests of the tool itself.
bool base64_decode(const char *text, std::size_t len, std::vector<uint8_t> *out);
std::string base58(const uint8_t *bytes, std::size_t len);

}  // namespace sdmm_cli
