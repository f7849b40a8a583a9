// The vector bodies of elementwise.c, written once over a vector of LANES floats and included
// once per code path with these defined: VEC, LANES, TARGET (the target attribute), NAME(f) (f
// with the path's suffix), LOAD, STORE, SET1, ADD, SUB, MUL, DIV, MIN, MAX, NEGATE (flip the sign
// bit), POW2 (2ⁿ from `shifted`: its bits minus the rounding magic's, plus the bias, moved into
// the exponent), ZERO_BELOW and INFINITY_ABOVE (x compared with a bound, ordered: NaN keeps the
// value). Every operation rounds on its own, in VectorMath.exp's order, so every lane has the
// scalar Swift code's bits. The definitions are dropped at the end, ready for the next path.

__attribute__((target(TARGET)))
static inline VEC NAME(exp)(VEC x) {
    VEC clamped = MIN(MAX(x, SET1(-87.33f)), SET1(88.37f));
    VEC magic = SET1(12582912.0f);
    VEC shifted = ADD(MUL(clamped, SET1(1.44269504f)), magic);
    VEC n = SUB(shifted, magic);
    VEC r = SUB(clamped, MUL(n, SET1(0.69314575f)));
    r = SUB(r, MUL(n, SET1(1.4286068e-6f)));
    VEC p = SET1(1.0f / 720);
    p = ADD(MUL(p, r), SET1(1.0f / 120));
    p = ADD(MUL(p, r), SET1(1.0f / 24));
    p = ADD(MUL(p, r), SET1(1.0f / 6));
    p = ADD(MUL(p, r), SET1(0.5f));
    p = ADD(MUL(p, r), SET1(1));
    p = ADD(MUL(p, r), SET1(1));
    VEC result = MUL(p, POW2(shifted, magic));
    result = ZERO_BELOW(result, x, SET1(-87.33f));
    return INFINITY_ABOVE(result, x, SET1(88.72f));
}

__attribute__((target(TARGET)))
static long NAME(swiglu_forward)(const float *gate, const float *up, float *a, long count) {
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        VEC g = LOAD(gate + i);
        VEC denominator = ADD(SET1(1), NAME(exp)(NEGATE(g)));
        STORE(a + i, MUL(DIV(g, denominator), LOAD(up + i)));
    }
    return i;
}

__attribute__((target(TARGET)))
static long NAME(swiglu_backward)(const float *da, const float *gate, const float *up, float *gate_gradient, float *up_gradient,
                                  long count) {
    const VEC one = SET1(1);
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        VEC g = LOAD(gate + i), d = LOAD(da + i);
        VEC sigmoid = DIV(one, ADD(one, NAME(exp)(NEGATE(g))));
        STORE(up_gradient + i, MUL(MUL(d, g), sigmoid));
        VEC slope = ADD(one, MUL(g, SUB(one, sigmoid)));
        STORE(gate_gradient + i, MUL(MUL(MUL(d, LOAD(up + i)), sigmoid), slope));
    }
    return i;
}

__attribute__((target(TARGET)))
static long NAME(exp_shifted)(const float *x, float *y, long count, float shift, float scale, int scaled) {
    long i = 0;
    for (; i + LANES <= count; i += LANES) {
        VEC e = NAME(exp)(SUB(LOAD(x + i), SET1(shift)));
        STORE(y + i, scaled ? MUL(SET1(scale), e) : e);
    }
    return i;
}

#undef VEC
#undef LANES
#undef TARGET
#undef NAME
#undef LOAD
#undef STORE
#undef SET1
#undef ADD
#undef SUB
#undef MUL
#undef DIV
#undef MIN
#undef MAX
#undef NEGATE
#undef POW2
#undef ZERO_BELOW
#undef INFINITY_ABOVE
