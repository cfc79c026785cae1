// source.cpp -- reading the sources of the `sdmm` tool (see source.hpp).
#include "source.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "memory_service_layout.h"

namespace sdmm_cli {

const char *kind_name(Kind k) {
    switch (k) {
        case Kind::File:
            return "file";
        case Kind::Shm:
            return "shm";
        case Kind::Solana:
            return "solana";
        case Kind::Bpf:
            return "bpf";
    }
    return "?";
}

Bytes::Bytes(Bytes &&other) noexcept { *this = std::move(other); }

Bytes &Bytes::operator=(Bytes &&other) noexcept {
    if (this != &other) {
        if (map_ != nullptr) munmap(const_cast<void *>(map_), map_len_);
        words_ = std::move(other.words_);
        data_ = other.data_;
        len_ = other.len_;
        map_ = other.map_;
        map_len_ = other.map_len_;
        if (map_ == nullptr && len_ != 0) data_ = reinterpret_cast<const uint8_t *>(words_.data());
        other.data_ = nullptr;
        other.len_ = 0;
        other.map_ = nullptr;
        other.map_len_ = 0;
    }
    return *this;
}

Bytes::~Bytes() {
    if (map_ != nullptr) munmap(const_cast<void *>(map_), map_len_);
}

Bytes Bytes::owned(std::vector<uint64_t> words, std::size_t len) {
    Bytes b;
    b.words_ = std::move(words);
    b.len_ = len;
    b.data_ = reinterpret_cast<const uint8_t *>(b.words_.data());
    return b;
}

Bytes Bytes::mapped(const void *addr, std::size_t len) {
    Bytes b;
    b.map_ = addr;
    b.map_len_ = len;
    b.data_ = static_cast<const uint8_t *>(addr);
    b.len_ = len;
    return b;
}

namespace {

// Bytes into 8-aligned storage (words, zero-padded).
Bytes from_vector(const std::vector<uint8_t> &v) {
    std::vector<uint64_t> words((v.size() + 7) / 8 + 1, 0);
    if (!v.empty()) std::memcpy(words.data(), v.data(), v.size());
    return Bytes::owned(std::move(words), v.size());
}

bool read_file(const std::string &path, std::vector<uint8_t> *out, std::string *error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *error = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) {
        *error = "cannot read " + path;
        return false;
    }
    return true;
}

bool map_shm(const std::string &name, Bytes *out, std::string *error) {
    const std::string shm_name = name.starts_with('/') ? name : "/" + name;
    const int fd = shm_open(shm_name.c_str(), O_RDONLY, 0);
    if (fd < 0) {
        *error = "shm_open(" + shm_name + "): " + std::strerror(errno);
        return false;
    }
    struct stat st{};
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        *error = "shared-memory object " + shm_name + " is empty or cannot be sized";
        close(fd);
        return false;
    }
    const auto len = static_cast<std::size_t>(st.st_size);
    // Read-only: sdmm_heap_attach, _stats, _check and _next_block write nothing.
    void *addr = mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (addr == MAP_FAILED) {
        *error = "mmap(" + shm_name + "): " + std::strerror(errno);
        return false;
    }
    *out = Bytes::mapped(addr, len);
    return true;
}

std::size_t skip_ws(const char *s, std::size_t n, std::size_t i) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    return i;
}

// The account data of an RPC getAccountInfo answer: the first "data" key
// whose value is ["<base64>", "base64"]. Enough JSON for that answer (and
// for the bare value object), not a general parser.
bool account_data_from_json(const std::vector<uint8_t> &text, std::vector<uint8_t> *out, std::string *error) {
    const auto *s = reinterpret_cast<const char *>(text.data());
    const std::size_t n = text.size();
    static constexpr char kKey[] = "\"data\"";
    const std::size_t key_len = sizeof kKey - 1;
    for (std::size_t at = 0; at + key_len <= n; ++at) {
        if (std::memcmp(s + at, kKey, key_len) != 0) continue;
        std::size_t i = skip_ws(s, n, at + key_len);
        if (i >= n || s[i] != ':') continue;
        i = skip_ws(s, n, i + 1);
        if (i >= n || s[i] != '[') continue;
        i = skip_ws(s, n, i + 1);
        if (i >= n || s[i] != '"') continue;
        const std::size_t start = i + 1;
        std::size_t end = start;
        while (end < n && s[end] != '"' && s[end] != '\\') ++end;
        if (end >= n || s[end] != '"') break;
        i = skip_ws(s, n, end + 1);
        if (i >= n || s[i] != ',') break;
        i = skip_ws(s, n, i + 1);
        static constexpr char kEnc[] = "\"base64\"";
        if (i + sizeof kEnc - 1 > n || std::memcmp(s + i, kEnc, sizeof kEnc - 1) != 0) {
            *error = "account data is not plain base64 (ask getAccountInfo for {\"encoding\":\"base64\"})";
            return false;
        }
        if (!base64_decode(s + start, end - start, out)) {
            *error = "account data is not valid base64";
            return false;
        }
        return true;
    }
    if (std::strstr(std::string(s, n).c_str(), "\"value\":null") != nullptr ||
        std::strstr(std::string(s, n).c_str(), "\"value\": null") != nullptr) {
        *error = "the account does not exist (\"value\": null)";
    } else {
        *error = "no \"data\": [\"<base64>\", \"base64\"] in the JSON";
    }
    return false;
}

bool looks_like_json(const std::vector<uint8_t> &v) {
    const std::size_t i = skip_ws(reinterpret_cast<const char *>(v.data()), v.size(), 0);
    return i < v.size() && v[i] == '{';
}

// A process-shared heap segment: its header must record exactly the
// geometry its arena size gives, inside the source. The arena is handed to
// attach with its whole room (the heap records its current length).
bool locate_shared(Source *src, std::string *error) {
    SharedLayout &sh = src->shared;
    std::memcpy(&sh.header, src->bytes.data(), sizeof sh.header);
    const sdmm_shm_header &h = sh.header;
    const std::size_t n = src->bytes.size();
    src->format = "process-shared heap v" + std::to_string(h.version);
    sdmm_shm_geometry &g = sh.geometry;
    const bool geometry = sdmm_shm_geometry_of(h.arena_max, &g) != 0;
    if (h.version != SDMM_SHM_VERSION || !geometry || h.segment_bytes != g.total ||
        h.usage_off != g.usage_off || h.state_off != g.usage_off || h.state_len != g.state_len ||
        h.owners_off != g.owners_off || h.arena_off != g.arena_off || h.ckpt_off != g.ckpt_off ||
        h.log_off != g.log_off || h.log_cap != g.log_cap) {
        *error = "shared-heap header is damaged or of another version (version " + std::to_string(h.version) +
                 ", want " + std::to_string(SDMM_SHM_VERSION) + "; arena room " +
                 std::to_string(h.arena_max) + (geometry ? "" : ", not a valid size") +
                 "; recorded offsets " + (geometry ? "do not match it" : "unchecked") + ")";
        return false;
    }
    if (g.total > n) {
        *error = "shared heap is cut short: its header says " + std::to_string(g.total) +
                 " bytes, the source has " + std::to_string(n);
        return false;
    }
    std::memcpy(&sh.state, src->bytes.data() + g.usage_off, sizeof sh.state);
    sh.present = true;
    src->arena_offset = g.arena_off;
    src->arena_len = g.arena_max;
    return true;
}

// Finds the arena: by the service or BPF dump header, else at offset 0.
bool locate_arena(Source *src, std::size_t offset, std::string *error) {
    const uint8_t *d = src->bytes.data();
    const std::size_t n = src->bytes.size();
    if (offset != SIZE_MAX) {
        if (offset > n || (offset & 7) != 0) {
            *error = "--offset must be a multiple of 8 inside the source";
            return false;
        }
        src->format = "arena at a given offset";
        src->arena_offset = offset;
        src->arena_len = n - offset;
        return true;
    }
    if (n >= SDMM_SVC_HEADER_BYTES && load64(d) == SDMM_SVC_MAGIC) {
        ServiceLayout &s = src->service;
        s.present = true;
        s.slots = load32(d + 16);
        s.owners = load32(d + 20);
        s.default_quota = load64(d + 24);
        std::memcpy(s.authority, d + 32, 32);
        const uint32_t version = load32(d + 8);
        const uint64_t arena = load32(d + 12);
        src->format = "memory-service account v" + std::to_string(version);
        if (version != SDMM_SVC_VERSION || s.slots > SDMM_SVC_MAX_SLOTS ||
            arena != sdmm_svc_arena_offset(s.slots) || arena >= n) {
            *error = "memory-service header is damaged (version " + std::to_string(version) + ", " +
                     std::to_string(s.slots) + " slots, arena offset " + std::to_string(arena) + ", " +
                     std::to_string(n) + " bytes)";
            return false;
        }
        src->arena_offset = arena;
        src->arena_len = n - arena;
        return true;
    }
    if (n >= sizeof(sdmm_shm_header) && std::memcmp(d, SDMM_SHM_MAGIC, 8) == 0)
        return locate_shared(src, error);
    if (n >= kBpfDumpHeaderBytes && load64(d) == kBpfDumpMagic) {
        const uint32_t version = load32(d + 8);
        const uint64_t pool = load32(d + 12);
        const uint64_t slack = load32(d + 16);
        src->format = "BPF pool dump v" + std::to_string(version);
        if (version != kBpfDumpVersion || pool == 0 || (pool & (pool - 1)) != 0 ||
            kBpfDumpHeaderBytes + pool + slack != n) {
            *error = "BPF pool dump header does not match its size (version " + std::to_string(version) +
                     ", pool " + std::to_string(pool) + " + slack " + std::to_string(slack) +
                     " bytes, file " + std::to_string(n) + ")";
            return false;
        }
        src->arena_offset = kBpfDumpHeaderBytes;
        src->arena_len = pool;
        return true;
    }
    src->format = src->kind == Kind::Bpf ? "BPF pool (raw map value)" : "raw arena";
    src->arena_offset = 0;
    src->arena_len = n;
    return true;
}

}  // namespace

bool base64_decode(const char *text, std::size_t len, std::vector<uint8_t> *out) {
    out->clear();
    out->reserve(len / 4 * 3);
    uint32_t acc = 0;
    int bits = 0;
    std::size_t pad = 0;
    for (std::size_t i = 0; i < len; ++i) {
        const char c = text[i];
        int v = -1;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        if (c >= '0' && c <= '9') v = c - '0' + 52;
        if (c == '+') v = 62;
        if (c == '/') v = 63;
        if (c == '=') {
            ++pad;
            continue;
        }
        if (v < 0 || pad != 0) return false;  // a foreign character, or data after padding
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out->push_back(static_cast<uint8_t>(acc >> bits));
        }
    }
    return pad <= 2 && (len % 4 == 0 || pad == 0);
}

std::string base58(const uint8_t *bytes, std::size_t len) {
    static constexpr char kAlphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    std::vector<uint8_t> digits;  // base 58, least significant first
    for (std::size_t i = 0; i < len; ++i) {
        uint32_t carry = bytes[i];
        for (uint8_t &d : digits) {
            carry += static_cast<uint32_t>(d) << 8;
            d = static_cast<uint8_t>(carry % 58);
            carry /= 58;
        }
        while (carry != 0) {
            digits.push_back(static_cast<uint8_t>(carry % 58));
            carry /= 58;
        }
    }
    std::string out;
    for (std::size_t i = 0; i < len && bytes[i] == 0; ++i) out.push_back('1');
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kAlphabet[*it]);
    return out;
}

bool open_source(const std::string &spec, std::size_t offset, Source *out, std::string *error) {
    std::string rest = spec;
    bool explicit_kind = true;
    if (spec.starts_with("shm:")) {
        out->kind = Kind::Shm;
        rest = spec.substr(4);
    } else if (spec.starts_with("solana:")) {
        out->kind = Kind::Solana;
        rest = spec.substr(7);
    } else if (spec.starts_with("bpf:")) {
        out->kind = Kind::Bpf;
        rest = spec.substr(4);
    } else if (spec.starts_with("file:")) {
        out->kind = Kind::File;
        rest = spec.substr(5);
    } else {
        out->kind = Kind::File;
        explicit_kind = false;
    }
    out->name = rest;
    if (out->kind == Kind::Shm) {
        if (!map_shm(rest, &out->bytes, error)) return false;
    } else {
        std::vector<uint8_t> raw;
        if (!read_file(rest, &raw, error)) return false;
        if ((out->kind == Kind::Solana || !explicit_kind) && looks_like_json(raw)) {
            std::vector<uint8_t> data;
            if (!account_data_from_json(raw, &data, error)) return false;
            out->kind = Kind::Solana;
            out->bytes = from_vector(data);
            if (!locate_arena(out, offset, error)) return false;
            out->format += " (from getAccountInfo JSON)";
            return true;
        }
        out->bytes = from_vector(raw);
    }
    if (!locate_arena(out, offset, error)) return false;
    // What the bytes say overrides a guess: a service account or a BPF dump
    // named as a plain path is reported as such.
    if (!explicit_kind && out->service.present) out->kind = Kind::Solana;
    if (!explicit_kind && out->format.starts_with("BPF")) out->kind = Kind::Bpf;
    return true;
}

}  // namespace sdmm_cli
