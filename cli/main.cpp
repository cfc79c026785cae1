// main.cpp -- `sdmm`, the command-line tool: inspect and check a heap.
//
//   sdmm inspect [--json] [--blocks] [--offset N] SOURCE
//   sdmm check   [--json] [--offset N] SOURCE
//
// SOURCE: PATH (a file; its kind recognised from its bytes), file:PATH,
// shm:NAME, solana:PATH (raw account data or getAccountInfo JSON), bpf:PATH
// (a BPF pool dump); a process-shared heap (ffi/sdmm_shared_layout.h) is
// recognised in a file or shm. Exit status: 0 the heap passes sdmm_heap_check
// (and, for a memory-service account or a process-shared heap, its owner
// table and usage counters agree with the heap); 1 it does
// not, or the bytes hold no heap; 2 usage or I/O error. Nothing here writes to
// the source, and every read of the heap goes through sdmm's own functions,
// which stay inside the arena whatever it holds (cli/README.md).

#include <cinttypes>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "memory_service_layout.h"
#include "sdmm.h"
#include "sdmm_shared.h"
#include "source.hpp"

namespace sdmm_cli {
namespace {

struct Options {
    bool inspect = false;
    bool json = false;
    bool blocks = false;
    std::size_t offset = SIZE_MAX;
    std::string spec;
};

struct TypeRow {
    uint64_t blocks = 0, elements = 0, bytes = 0;
};

struct OwnerRow {
    uint64_t quota = 0, used = 0, blocks = 0;  // as the table records them
    uint64_t walk_blocks = 0, walk_bytes = 0;  // as the heap walk finds them
    std::string key;
    std::string delegate;  // empty: none
};

// A client slot of a process-shared heap: as its table records it, and what
// the heap walk finds under its owner bytes.
struct ClientRow {
    uint32_t state = 0;
    int32_t pid = 0;
    uint64_t start_time = 0, quota = 0, grants = 0;
    uint64_t used = 0;  // the state's usage counter
    bool alive = false;
    uint64_t walk_blocks = 0, walk_charge = 0, walk_bytes = 0;
};

struct Report {
    uint32_t attach = SDMM_OK;
    uint32_t check = SDMM_OK;
    sdmm_stats stats{};
    std::map<uint32_t, TypeRow> types;
    uint64_t walked = 0, live = 0, free_blocks = 0, cached = 0, live_bytes = 0;
    bool walk_complete = false;
    std::vector<sdmm_block_info> block_list;
    std::vector<uint32_t> block_owner;  // per listed block: slot, or UINT32_MAX
    // memory-service accounts
    std::vector<OwnerRow> owners;
    uint64_t unowned_blocks = 0;  // live blocks whose prefix names no slot in use
    std::vector<std::string> service_errors;
    // process-shared heaps
    std::vector<ClientRow> clients;
    std::vector<uint64_t> live_starts;  // element offsets of the live blocks, in address order
    uint64_t heap_len = 0;              // the arena length the heap records
    bool boot_current = false;          // the pids were recorded in this boot
    uint64_t first_unowned = 0;         // block offset of the first live block without an owner
    uint32_t first_unowned_byte = 0;
    std::vector<std::string> shared_errors, shared_notes;
};

const char *state_name(uint32_t s) {
    switch (s) {
        case SDMM_BLOCK_FREE:
            return "free";
        case SDMM_BLOCK_LIVE:
            return "live";
        case SDMM_BLOCK_CACHED:
            return "cached";
        default:
            return "?";
    }
}

void read_owner_table(const Source &src, Report *r) {
    const uint8_t *table = src.bytes.data() + SDMM_SVC_HEADER_BYTES;
    uint32_t owners = src.service.owners;
    if (owners > src.service.slots) {
        r->service_errors.push_back("owner count " + std::to_string(owners) + " exceeds the table's " +
                                    std::to_string(src.service.slots) + " slots");
        owners = src.service.slots;  // the table itself fits: locate_arena checked its size
    }
    for (uint32_t i = 0; i < owners; ++i) {
        const uint8_t *o = table + uint64_t{SDMM_SVC_OWNER_BYTES} * i;
        OwnerRow row;
        row.key = base58(o + offsetof(sdmm_svc_owner, key), 32);
        static constexpr uint8_t kNone[32] = {};
        if (std::memcmp(o + offsetof(sdmm_svc_owner, delegate), kNone, 32) != 0)
            row.delegate = base58(o + offsetof(sdmm_svc_owner, delegate), 32);
        row.quota = load64(o + offsetof(sdmm_svc_owner, quota));
        row.used = load64(o + offsetof(sdmm_svc_owner, used));
        row.blocks = load64(o + offsetof(sdmm_svc_owner, blocks));
        r->owners.push_back(row);
    }
}

// The owner byte of the live block whose elements start at `elements`
// (client + 1; 0: none): the client, or UINT32_MAX. Every owner byte the
// walk reaches is inside the owner table (the arena is its room).
uint32_t shared_owner(const Source &src, const sdmm_block_info &info, uint64_t elements, Report *r) {
    const sdmm_shm_geometry &g = src.shared.geometry;
    r->live_starts.push_back(elements);
    if (elements / 8 >= g.arena_max / 8) return UINT32_MAX;
    const uint8_t o = src.bytes.data()[g.owners_off + elements / 8];
    if (o == 0 || o > SDMM_SHM_CLIENTS) {
        if (r->unowned_blocks++ == 0) {
            r->first_unowned = info.offset;
            r->first_unowned_byte = o;
        }
        return UINT32_MAX;
    }
    ClientRow &c = r->clients[o - 1u];
    c.walk_blocks += 1;
    c.walk_charge += sdmm_shm_charge(uint64_t{info.len} * sdmm_tag_size(info.tag));
    c.walk_bytes += info.bytes;
    return o - 1u;
}

// The walk: every block in address order, at most one step per 8 bytes of
// arena (sdmm_heap_next_block moves forward or stops; the bound holds even
// if it did not).
void walk(const Source &src, const sdmm_heap *heap, bool keep_list, Report *r) {
    const uint8_t *arena = src.bytes.data() + src.arena_offset;
    const uint64_t max_steps = src.arena_len / 8 + 1;
    uint64_t cursor = 0;
    uint64_t last = 0;
    sdmm_block_info info{};
    while (r->walked < max_steps && sdmm_heap_next_block(heap, &cursor, &info) == 1) {
        if (r->walked != 0 && info.offset <= last) break;  // no progress: stop, the check reports why
        last = info.offset;
        ++r->walked;
        uint32_t owner = UINT32_MAX;
        if (info.state == SDMM_BLOCK_LIVE) {
            ++r->live;
            r->live_bytes += info.bytes;
            TypeRow &t = r->types[info.tag];
            ++t.blocks;
            t.elements += info.len;
            t.bytes += info.bytes;
            const uint64_t elements = info.offset + SDMM_BLOCK_HEADER_BYTES;
            if (src.shared.present) owner = shared_owner(src, info, elements, r);
            if (src.service.present && elements + 4 <= src.arena_len) {
                owner = load32(arena + elements);
                if (owner < r->owners.size()) {
                    r->owners[owner].walk_blocks += 1;
                    r->owners[owner].walk_bytes += info.bytes;
                } else {
                    ++r->unowned_blocks;
                }
            }
        } else if (info.state == SDMM_BLOCK_CACHED) {
            ++r->cached;
        } else {
            ++r->free_blocks;
        }
        if (keep_list) {
            r->block_list.push_back(info);
            r->block_owner.push_back(owner);
        }
    }
    r->walk_complete = sdmm_heap_next_block(heap, &cursor, &info) == 0 && r->walked < max_steps;
}

// A raw source whose offset 0 holds no heap: the first 8-aligned offset
// where sdmm_heap_attach accepts the bytes (it validates the recorded
// geometry and its seal, O(1) each), e.g. an arena behind a container's own
// header. Bounded by the source's size.
void find_arena(Source *src, sdmm_heap **heap, Report *r) {
    const std::size_t n = src->bytes.size();
    for (std::size_t off = 8; off + SDMM_MIN_ARENA_BYTES <= n; off += 8) {
        void *at = const_cast<uint8_t *>(src->bytes.data() + off);
        if (sdmm_heap_attach(at, n - off, heap) == SDMM_OK) {
            src->arena_offset = off;
            src->arena_len = n - off;
            src->format.replace(0, 9, "raw bytes, arena found by scanning");
            r->attach = SDMM_OK;
            return;
        }
    }
}

void read_shared(const Source &src, Report *r) {
    const SharedLayout &sh = src.shared;
    r->boot_current = sdmm_shared_same_boot(sh.header.boot_id) != 0;
    r->clients.assign(SDMM_SHM_CLIENTS, ClientRow{});
    for (uint32_t i = 0; i < SDMM_SHM_CLIENTS; ++i) {
        const sdmm_shm_client &c = sh.header.clients[i];
        ClientRow &row = r->clients[i];
        row.state = c.state;
        row.pid = c.pid;
        row.start_time = c.start_time;
        row.quota = c.quota;
        row.grants = c.grants;
        row.used = sh.state.usage[i];
        row.alive = r->boot_current && c.state == SDMM_SHM_SLOT_LIVE &&
                    sdmm_shared_process_alive(c.pid, c.start_time) != 0;
    }
}

// The books of a process-shared heap against its heap: each client's usage
// counter equals the charges of the live blocks whose owner byte names it;
// every live block has an owner whose slot is in use; no owner byte is set
// where no live block starts; the recorded arena length is the heap's.
void cross_check_shared(const Source &src, Report *r) {
    const SharedLayout &sh = src.shared;
    const sdmm_shm_geometry &g = sh.geometry;
    std::vector<std::string> &errors = r->shared_errors;
    const uint64_t len = sh.state.arena_bytes;
    if (len != r->heap_len) {
        errors.push_back("the state records an arena of " + std::to_string(len) +
                         " bytes; the heap records " + std::to_string(r->heap_len));
    }
    for (uint32_t i = 0; i < SDMM_SHM_CLIENTS; ++i) {
        const ClientRow &c = r->clients[i];
        const std::string who = "client " + std::to_string(i);
        if (c.state != SDMM_SHM_SLOT_FREE && c.state != SDMM_SHM_SLOT_LIVE)
            errors.push_back(who + ": slot state " + std::to_string(c.state) + " is neither free nor in use");
        if (c.used != c.walk_charge) {
            errors.push_back(who + ": usage counter says " + std::to_string(c.used) + " bytes; its " +
                             std::to_string(c.walk_blocks) + " live blocks are charged " +
                             std::to_string(c.walk_charge));
        }
        if (c.walk_blocks != 0 && c.state != SDMM_SHM_SLOT_LIVE) {
            errors.push_back(who + ": " + std::to_string(c.walk_blocks) +
                             " live blocks name it as owner, but its slot is not in use");
        }
    }
    if (r->unowned_blocks != 0) {
        errors.push_back(std::to_string(r->unowned_blocks) +
                         " live blocks have no valid owner byte (first: the block at arena offset " +
                         std::to_string(r->first_unowned) + ", owner byte " +
                         std::to_string(r->first_unowned_byte) + ")");
    }
    // Owner bytes where no live block starts, over the arena as the heap
    // records it (the table is arena_max / 8 bytes, inside the source).
    const uint64_t granules = (r->heap_len < g.arena_max ? r->heap_len : g.arena_max) / 8;
    const uint8_t *owners = src.bytes.data() + g.owners_off;
    uint64_t stray = 0, first_stray = 0;
    std::size_t next = 0;
    for (uint64_t i = 0; i < granules; ++i) {
        while (next < r->live_starts.size() && r->live_starts[next] / 8 < i) ++next;
        const bool starts = next < r->live_starts.size() && r->live_starts[next] / 8 == i;
        if (owners[i] != 0 && !starts && stray++ == 0) first_stray = i * 8;
    }
    if (stray != 0) {
        errors.push_back(std::to_string(stray) +
                         " owner bytes are set where no live block starts (first at arena "
                         "offset " +
                         std::to_string(first_stray) + ")");
    }
    if (!r->walk_complete)
        errors.push_back("the heap walk stopped early: owners of the blocks after it unchecked");
    const sdmm_shm_header &h = sh.header;
    if (h.unrecoverable != 0)
        errors.push_back("a recovery failed: the service refuses every call on this heap");
    if (h.admin >= SDMM_SHM_CLIENTS)
        errors.push_back("the admin is client " + std::to_string(h.admin) + ", no such slot");
    if (h.log_len > h.log_cap) {
        errors.push_back("the log records " + std::to_string(h.log_len) + " entries; it holds " +
                         std::to_string(h.log_cap));
    }
    if (h.pending != 0) {
        r->shared_notes.push_back("a call was in progress when this was read (log entry " +
                                  std::to_string(h.pending - 1) +
                                  "); if its client died, the next call of any client recovers the heap");
    }
    if (h.ckpt_busy != 0) r->shared_notes.push_back("a checkpoint was being copied when this was read");
    if (!r->boot_current) {
        r->shared_notes.push_back(
            "the client pids were recorded before this boot (or the boot id is unreadable): "
            "none is alive");
    }
}

void cross_check_service(Report *r) {
    uint64_t used = 0, blocks = 0;
    for (std::size_t i = 0; i < r->owners.size(); ++i) {
        const OwnerRow &o = r->owners[i];
        used += o.used;
        blocks += o.blocks;
        if (o.used != o.walk_bytes || o.blocks != o.walk_blocks) {
            r->service_errors.push_back("owner slot " + std::to_string(i) + " records " +
                                        std::to_string(o.used) + " bytes in " + std::to_string(o.blocks) +
                                        " blocks; the heap holds " + std::to_string(o.walk_bytes) +
                                        " bytes in " + std::to_string(o.walk_blocks) + " blocks");
        }
        if (o.used > o.quota)
            r->service_errors.push_back("owner slot " + std::to_string(i) + " is over its quota");
    }
    if (used != r->stats.allocated || blocks != r->stats.live_blocks) {
        r->service_errors.push_back("owners hold " + std::to_string(used) + " bytes in " +
                                    std::to_string(blocks) + " blocks; the heap counts " +
                                    std::to_string(r->stats.allocated) + " bytes in " +
                                    std::to_string(r->stats.live_blocks) + " live blocks");
    }
    if (r->unowned_blocks != 0) {
        r->service_errors.push_back(std::to_string(r->unowned_blocks) +
                                    " live blocks name no owner slot in use");
    }
}

std::string json_escape(const std::string &s) {
    std::string out;
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

const char *tag_label(uint32_t tag) {
    const char *name = sdmm_tag_name(tag);
    return name != nullptr ? name : "?";
}

bool passed(const Report &r) {
    return r.attach == SDMM_OK && r.check == SDMM_OK && r.service_errors.empty() && r.shared_errors.empty();
}

const char *slot_state(uint32_t s) {
    return s == SDMM_SHM_SLOT_FREE ? "free" : s == SDMM_SHM_SLOT_LIVE ? "live" : "?";
}

// The clients worth listing: in use, or with a counter or blocks.
bool listed(const ClientRow &c) { return c.state != SDMM_SHM_SLOT_FREE || c.used != 0 || c.walk_blocks != 0; }

void print_json_shared(const Source &src, const Report &r) {
    const sdmm_shm_header &h = src.shared.header;
    std::printf("\"shared\":{\"version\":%u,\"arena_bytes\":%" PRIu64 ",\"heap_bytes\":%" PRIu64
                ",\"arena_max\":%" PRIu64 ",\"segment_bytes\":%" PRIu64
                ",\"admin\":%u,\"recoveries\":%" PRIu64 ",\"rollbacks\":%" PRIu64 ",\"log_len\":%" PRIu64
                ",\"log_cap\":%" PRIu64 ",\"pending\":%" PRIu64 ",\"high_water\":%" PRIu64
                ",\"boot_current\":%s,\"unowned_blocks\":%" PRIu64 ",\"errors\":[",
                h.version, src.shared.state.arena_bytes, r.heap_len, h.arena_max, h.segment_bytes, h.admin,
                h.recoveries, h.rollbacks, h.log_len, h.log_cap, h.pending, h.high_water,
                r.boot_current ? "true" : "false", r.unowned_blocks);
    for (std::size_t i = 0; i < r.shared_errors.size(); ++i)
        std::printf("%s\"%s\"", i ? "," : "", json_escape(r.shared_errors[i]).c_str());
    std::printf("],\"notes\":[");
    for (std::size_t i = 0; i < r.shared_notes.size(); ++i)
        std::printf("%s\"%s\"", i ? "," : "", json_escape(r.shared_notes[i]).c_str());
    std::printf("],\"clients\":[");
    bool first = true;
    for (std::size_t i = 0; i < r.clients.size(); ++i) {
        const ClientRow &c = r.clients[i];
        if (!listed(c)) continue;
        std::printf("%s\n {\"slot\":%zu,\"state\":\"%s\",\"pid\":%d,\"alive\":%s,\"quota\":",
                    first ? "" : ",", i, slot_state(c.state), c.pid, c.alive ? "true" : "false");
        if (c.quota == UINT64_MAX) {
            std::printf("null");
        } else {
            std::printf("%" PRIu64, c.quota);
        }
        std::printf(",\"used\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"charged\":%" PRIu64
                    ",\"walk_bytes\":%" PRIu64 ",\"grants\":[",
                    c.used, c.walk_blocks, c.walk_charge, c.walk_bytes);
        bool first_grant = true;
        for (uint32_t j = 0; j < SDMM_SHM_CLIENTS; ++j) {
            if ((c.grants >> j & 1u) == 0) continue;
            std::printf("%s%u", first_grant ? "" : ",", j);
            first_grant = false;
        }
        std::printf("]}");
        first = false;
    }
    std::printf("]},\n");
}

void print_text_shared(const Source &src, const Report &r) {
    const sdmm_shm_header &h = src.shared.header;
    std::printf("shared   arena %" PRIu64 " B of at most %" PRIu64 ", segment %" PRIu64
                " B; admin #%u; log %" PRIu64 " of %" PRIu64 "; %" PRIu64 " recoveries, %" PRIu64
                " rolled back\n",
                src.shared.state.arena_bytes, h.arena_max, h.segment_bytes, h.admin, h.log_len, h.log_cap,
                h.recoveries, h.rollbacks);
    std::printf("clients  %-5s %8s %-5s %12s %12s %7s %12s\n", "slot", "pid", "alive", "quota", "used",
                "blocks", "charged");
    for (std::size_t i = 0; i < r.clients.size(); ++i) {
        const ClientRow &c = r.clients[i];
        if (!listed(c)) continue;
        char quota[24];
        if (c.quota == UINT64_MAX) {
            std::snprintf(quota, sizeof quota, "unlimited");
        } else {
            std::snprintf(quota, sizeof quota, "%" PRIu64, c.quota);
        }
        std::printf("         #%-4zu %8d %-5s %12s %12" PRIu64 " %7" PRIu64 " %12" PRIu64 "%s%s\n", i, c.pid,
                    c.alive ? "yes" : "no", quota, c.used, c.walk_blocks, c.walk_charge,
                    c.state == SDMM_SHM_SLOT_LIVE && c.pid == 0 ? "  detached" : "",
                    c.state == SDMM_SHM_SLOT_FREE ? "  (slot free)" : "");
    }
}

void print_json(const Options &opt, const Source &src, const Report &r) {
    std::printf("{\"source\":{\"kind\":\"%s\",\"name\":\"%s\",\"format\":\"%s\",\"bytes\":%zu,",
                kind_name(src.kind), json_escape(src.name).c_str(), json_escape(src.format).c_str(),
                src.bytes.size());
    std::printf("\"arena_offset\":%zu,\"arena_bytes\":%zu},\n", src.arena_offset, src.arena_len);
    std::printf("\"attach\":{\"status\":%u,\"message\":\"%s\"},\n", r.attach, sdmm_status_str(r.attach));
    std::printf("\"check\":{\"status\":%u,\"message\":\"%s\",\"passed\":%s},\n", r.check,
                sdmm_status_str(r.check), passed(r) ? "true" : "false");
    if (r.attach == SDMM_OK) {
        const sdmm_stats &s = r.stats;
        std::printf("\"stats\":{\"capacity\":%" PRIu64 ",\"allocated\":%" PRIu64
                    ",\"peak_allocated\":%" PRIu64 ",\"live_blocks\":%" PRIu64 ",\"largest_free\":%" PRIu64
                    ",\"oom_count\":%" PRIu64 ",\"free_blocks\":%" PRIu64 ",\"control_bytes\":%" PRIu64
                    "},\n",
                    s.capacity, s.allocated, s.peak_allocated, s.live_blocks, s.largest_free, s.oom_count,
                    s.free_blocks, s.control_bytes);
        std::printf("\"walk\":{\"blocks\":%" PRIu64 ",\"live\":%" PRIu64 ",\"live_bytes\":%" PRIu64
                    ",\"free\":%" PRIu64 ",\"cached\":%" PRIu64 ",\"complete\":%s},\n",
                    r.walked, r.live, r.live_bytes, r.free_blocks, r.cached,
                    r.walk_complete ? "true" : "false");
        std::printf("\"types\":[");
        bool first = true;
        for (const auto &[tag, t] : r.types) {
            std::printf("%s{\"tag\":%u,\"name\":\"%s\",\"blocks\":%" PRIu64 ",\"elements\":%" PRIu64
                        ",\"bytes\":%" PRIu64 "}",
                        first ? "" : ",", tag, tag_label(tag), t.blocks, t.elements, t.bytes);
            first = false;
        }
        std::printf("],\n");
    }
    if (src.service.present) {
        std::printf("\"service\":{\"slots\":%u,\"owners_in_use\":%u,\"default_quota\":%" PRIu64
                    ",\"authority\":\"%s\",\"unowned_blocks\":%" PRIu64 ",\"errors\":[",
                    src.service.slots, src.service.owners, src.service.default_quota,
                    base58(src.service.authority, 32).c_str(), r.unowned_blocks);
        for (std::size_t i = 0; i < r.service_errors.size(); ++i)
            std::printf("%s\"%s\"", i ? "," : "", json_escape(r.service_errors[i]).c_str());
        std::printf("],\"owners\":[");
        for (std::size_t i = 0; i < r.owners.size(); ++i) {
            const OwnerRow &o = r.owners[i];
            std::printf("%s{\"slot\":%zu,\"key\":\"%s\",\"delegate\":\"%s\",\"quota\":%" PRIu64
                        ",\"used\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"walk_bytes\":%" PRIu64
                        ",\"walk_blocks\":%" PRIu64 "}",
                        i ? "," : "", i, o.key.c_str(), o.delegate.c_str(), o.quota, o.used, o.blocks,
                        o.walk_bytes, o.walk_blocks);
        }
        std::printf("]},\n");
    }
    if (src.shared.present && r.attach == SDMM_OK) print_json_shared(src, r);
    if (opt.blocks) {
        std::printf("\"blocks\":[");
        for (std::size_t i = 0; i < r.block_list.size(); ++i) {
            const sdmm_block_info &b = r.block_list[i];
            std::printf("%s\n {\"offset\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"state\":\"%s\"", i ? "," : "",
                        b.offset, b.bytes, state_name(b.state));
            if (b.state == SDMM_BLOCK_LIVE) {
                std::printf(",\"tag\":%u,\"type\":\"%s\",\"len\":%u,\"handle\":%" PRIu64 ",\"claimed\":%s",
                            b.tag, tag_label(b.tag), b.len, b.handle, b.claimed ? "true" : "false");
                if (r.block_owner[i] != UINT32_MAX) std::printf(",\"owner_slot\":%u", r.block_owner[i]);
            }
            std::printf("}");
        }
        std::printf("],\n");
    }
    std::printf("\"command\":\"%s\"}\n", opt.inspect ? "inspect" : "check");
}

void print_text(const Options &opt, const Source &src, const Report &r) {
    std::printf("source   %s %s: %s, %zu bytes; arena at offset %zu, %zu bytes\n", kind_name(src.kind),
                src.name.c_str(), src.format.c_str(), src.bytes.size(), src.arena_offset, src.arena_len);
    if (r.attach != SDMM_OK) {
        std::printf("attach   FAILED: %s (%u)\n", sdmm_status_str(r.attach), r.attach);
        return;
    }
    const sdmm_stats &s = r.stats;
    if (opt.inspect) {
        std::printf("heap     capacity %" PRIu64 " B, allocated %" PRIu64 " B (peak %" PRIu64 "), %" PRIu64
                    " live blocks\n",
                    s.capacity, s.allocated, s.peak_allocated, s.live_blocks);
        std::printf("         %" PRIu64 " free blocks, largest free %" PRIu64 " B, %" PRIu64
                    " refused for lack of memory, control %" PRIu64 " B\n",
                    s.free_blocks, s.largest_free, s.oom_count, s.control_bytes);
        std::printf("walk     %" PRIu64 " blocks: %" PRIu64 " live (%" PRIu64 " B), %" PRIu64
                    " free, %" PRIu64 " cached%s\n",
                    r.walked, r.live, r.live_bytes, r.free_blocks, r.cached,
                    r.walk_complete ? "" : " -- stopped early (damaged metadata)");
        if (!r.types.empty()) {
            std::printf("by type  %-10s %8s %12s %12s\n", "type", "blocks", "elements", "bytes");
            for (const auto &[tag, t] : r.types) {
                std::printf("         %-10s %8" PRIu64 " %12" PRIu64 " %12" PRIu64 "\n", tag_label(tag),
                            t.blocks, t.elements, t.bytes);
            }
        }
        if (src.service.present) {
            std::printf("owners   %u of %u slots, default quota %" PRIu64 " B, authority %s\n",
                        src.service.owners, src.service.slots, src.service.default_quota,
                        base58(src.service.authority, 32).c_str());
            for (std::size_t i = 0; i < r.owners.size(); ++i) {
                const OwnerRow &o = r.owners[i];
                std::printf("  #%-3zu %-44s quota %10" PRIu64 "  used %10" PRIu64 " B in %4" PRIu64
                            " blocks\n",
                            i, o.key.c_str(), o.quota, o.used, o.blocks);
                if (!o.delegate.empty()) std::printf("       delegate %s\n", o.delegate.c_str());
            }
        }
        if (src.shared.present) print_text_shared(src, r);
        if (opt.blocks) {
            std::printf("blocks   %10s %10s %-7s %-10s %8s %18s\n", "offset", "bytes", "state", "type", "len",
                        "handle");
            for (std::size_t i = 0; i < r.block_list.size(); ++i) {
                const sdmm_block_info &b = r.block_list[i];
                if (b.state == SDMM_BLOCK_LIVE) {
                    std::printf("         %10" PRIu64 " %10" PRIu64 " %-7s %-10s %8u 0x%016" PRIx64, b.offset,
                                b.bytes, state_name(b.state), tag_label(b.tag), b.len, b.handle);
                    if (r.block_owner[i] != UINT32_MAX) std::printf("  owner #%u", r.block_owner[i]);
                    std::printf("\n");
                } else {
                    std::printf("         %10" PRIu64 " %10" PRIu64 " %-7s\n", b.offset, b.bytes,
                                state_name(b.state));
                }
            }
        }
    }
    for (const std::string &e : r.service_errors) std::printf("service  %s\n", e.c_str());
    for (const std::string &e : r.shared_errors) std::printf("shared   %s\n", e.c_str());
    for (const std::string &e : r.shared_notes) std::printf("note     %s\n", e.c_str());
    const std::size_t books = r.service_errors.size() + r.shared_errors.size();
    if (r.check != SDMM_OK) {
        std::printf("check    FAILED: %s\n", sdmm_status_str(r.check));
    } else if (books != 0) {
        std::printf("check    FAILED: the heap passes sdmm_heap_check, but %zu cross-check%s above fail%s\n",
                    books, books == 1 ? "" : "s", books == 1 ? "s" : "");
    } else {
        std::printf("check    ok\n");
    }
}

int usage() {
    std::fprintf(
        stderr,
        "usage: sdmm inspect [--json] [--blocks] [--offset N] SOURCE\n"
        "       sdmm check [--json] [--offset N] SOURCE\n"
        "SOURCE: PATH | file:PATH | shm:NAME | solana:PATH (account data or getAccountInfo JSON) |\n"
        "        bpf:PATH (BPF pool dump)\n"
        "exit status: 0 heap check passed, 1 it failed or no heap was found, 2 usage or I/O error\n");
    return 2;
}

int run(int argc, char **argv) {
    if (argc < 3) return usage();
    Options opt;
    const std::string cmd = argv[1];
    if (cmd == "inspect") {
        opt.inspect = true;
    } else if (cmd != "check") {
        return usage();
    }
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json") {
            opt.json = true;
        } else if (a == "--blocks" && opt.inspect) {
            opt.blocks = true;
        } else if (a == "--offset" && i + 1 < argc) {
            char *end = nullptr;
            const unsigned long long v = std::strtoull(argv[++i], &end, 0);
            if (end == nullptr || *end != '\0') return usage();
            opt.offset = static_cast<std::size_t>(v);
        } else if (a.starts_with("--") || !opt.spec.empty()) {
            return usage();
        } else {
            opt.spec = a;
        }
    }
    if (opt.spec.empty()) return usage();

    Source src;
    std::string error;
    if (!open_source(opt.spec, opt.offset, &src, &error)) {
        const bool io =
            error.starts_with("cannot ") || error.starts_with("shm_open") || error.starts_with("mmap");
        if (opt.json) {
            std::printf("{\"error\":\"%s\",\"check\":{\"passed\":false}}\n", json_escape(error).c_str());
        } else {
            std::fprintf(stderr, "sdmm: %s\n", error.c_str());
        }
        return io ? 2 : 1;
    }
    Report r;
    sdmm_heap *heap = nullptr;
    // attach writes nothing: the source is read-only memory (a PROT_READ
    // mapping for shm:), which a write would fault on.
    void *arena = const_cast<uint8_t *>(src.bytes.data() + src.arena_offset);
    r.attach = sdmm_heap_attach(arena, src.arena_len, &heap);
    if (r.attach != SDMM_OK && opt.offset == SIZE_MAX && src.format.starts_with("raw arena"))
        find_arena(&src, &heap, &r);
    if (r.attach == SDMM_OK) {
        r.check = sdmm_heap_check(heap);
        sdmm_heap_stats(heap, &r.stats);
        if (src.service.present) read_owner_table(src, &r);
        if (src.shared.present) {
            read_shared(src, &r);
            r.heap_len = r.stats.capacity + r.stats.control_bytes;  // the arena length the heap records
        }
        walk(src, heap, opt.blocks, &r);
        if (src.service.present) cross_check_service(&r);
        if (src.shared.present) cross_check_shared(src, &r);
    } else {
        r.check = r.attach;  // no heap to check
    }
    if (opt.json) {
        print_json(opt, src, r);
    } else {
        print_text(opt, src, r);
    }
    return passed(r) ? 0 : 1;
}

}  // namespace
}  // namespace sdmm_cli

int main(int argc, char **argv) { return sdmm_cli::run(argc, argv); }
