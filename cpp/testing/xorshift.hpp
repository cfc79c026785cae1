// xorshift.hpp -- the one pseudo-random generator of sdmm's tests,
// benchmarks and example programs: xorshift64, deterministic, freestanding
// (the Solana programs include it too), so a run can be replayed from its
// seed -- by a JavaScript test for the Solana programs.
#pragma once

#include <stdint.h>

struct Rng {
    uint64_t s;  // the seed: any value but 0
    uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    uint64_t below(uint64_t n) { return next() % n; }
};
