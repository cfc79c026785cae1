// xorshift.hpp -- the one pseudo-random generator of the Solana example
// programs (deterministic, so a test in JavaScript can replay a run).
#pragma once

#include <stdint.h>

struct Rng {
    uint64_t s;
    uint64_t next() {  // xorshift64
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};
