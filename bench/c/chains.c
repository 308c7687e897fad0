// The workload of the stack-printing benchmark: one function, leaf(),
// reached through 16,384 different call chains of 14 levels, each level a
// choice between two functions (bit k of the round's number picks level
// k's), built with frame pointers so that a user stack shows every level.
// Runs until killed, round after round; prints "ready" after its first
// pass.
//
//   benchchains
#include <stdio.h>

#define NOINLINE __attribute__((noinline))
#define LEVELS 14

volatile unsigned long sink;

NOINLINE void leaf(unsigned i) { sink += i; }

// Between the last level and leaf: a uprobe at leaf's entry may not see
// its direct caller (the frame pointer is not pushed yet), and this is
// the same function on every chain.
NOINLINE void to_leaf(unsigned i) {
    leaf(i);
    sink++;
}

// Level K's two functions: each calls level K+1's function that bit K+1
// of `i` picks (and does something after it, so the call is no tail call: something
// different in each, so no compiler folds the two into one).
#define LEVEL(K, NEXT_A, NEXT_B)                                          \
    NOINLINE void level##K##_a(unsigned i) {                              \
        if (i >> ((K) + 1) & 1) NEXT_B(i); else NEXT_A(i);                \
        sink += 1;                                                        \
    }                                                                     \
    NOINLINE void level##K##_b(unsigned i) {                              \
        if (i >> ((K) + 1) & 1) NEXT_B(i); else NEXT_A(i);                \
        sink += 2;                                                        \
    }

LEVEL(13, to_leaf, to_leaf)
LEVEL(12, level13_a, level13_b)
LEVEL(11, level12_a, level12_b)
LEVEL(10, level11_a, level11_b)
LEVEL(9, level10_a, level10_b)
LEVEL(8, level9_a, level9_b)
LEVEL(7, level8_a, level8_b)
LEVEL(6, level7_a, level7_b)
LEVEL(5, level6_a, level6_b)
LEVEL(4, level5_a, level5_b)
LEVEL(3, level4_a, level4_b)
LEVEL(2, level3_a, level3_b)
LEVEL(1, level2_a, level2_b)
LEVEL(0, level1_a, level1_b)

int main(void) {
    for (unsigned round = 0;; round++) {
        for (unsigned i = 0; i < 1u << LEVELS; i++) {
            // Bit 0 picks level 0's function.
            if (i & 1) level0_b(i); else level0_a(i);
        }
        if (round == 0) {
            printf("ready\n");
            fflush(stdout);
        }
    }
}
