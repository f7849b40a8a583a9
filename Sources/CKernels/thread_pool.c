// A fixed team of compute threads (see CKernels.h). Dispatch's concurrentPerform woke a pool of
// generic workers for every product — a layer makes a dozen — and on 2 cores its GEMM reached
// 187 GFLOP/s on two threads where the same columns on two plain threads reach 245: parts landed
// late or on the caller after it had finished its own. Here worker i always runs part i, waits
// for the next call spinning briefly (the next product is usually microseconds away) and then
// sleeps on a condition variable, so an idle rank costs no CPU.
#include "CKernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define relax() _mm_pause()
#else
#define relax() ((void)0)
#endif

// Some 50–200 µs of pause instructions (10–40 cycles each, ~140 on recent Intel cores) before a
// worker sleeps: longer than the gaps between a layer's products, short enough not to steal a
// core from another rank for long.
enum { SPIN_ROUNDS = 4000, MAX_THREADS = 256 };

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    int workers;                  // threads started besides the caller
    _Atomic unsigned long generation;  // bumped once per call
    _Atomic int pending;          // workers still running the current call
    int sleepers;                 // workers waiting on `wake` (under lock)
    int caller_waiting;           // the caller waits on `done` (under lock)
    ttl_parallel_body body;
    void *context;
    int parts;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};

// Set on workers for good and on the caller during a call: a nested call runs its parts in turn.
static _Thread_local int inside_team;
// One caller at a time; another thread's call meanwhile runs its parts in turn.
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;

static void run_in_turn(int parts, ttl_parallel_body body, void *context) {
    for (int part = 0; part < parts; part++) body(context, part);
}

static void *worker_main(void *argument) {
    int part = (int)(long)argument;
    inside_team = 1;
    unsigned long seen = 0;
    for (;;) {
        unsigned long generation;
        int spins = 0;
        while ((generation = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen && spins < SPIN_ROUNDS) {
            relax();
            spins++;
        }
        if (generation == seen) {
            pthread_mutex_lock(&pool.lock);
            pool.sleepers++;
            while ((generation = atomic_load_explicit(&pool.generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.lock);
        }
        seen = generation;
        if (part < pool.parts) pool.body(pool.context, part);
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.lock);
            if (pool.caller_waiting) pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

// Starts workers until `threads - 1` run; they are never stopped (the process's compute team).
static int ensure_workers(int threads) {
    while (pool.workers < threads - 1 && pool.workers < MAX_THREADS) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker_main, (void *)(long)(pool.workers + 1)) != 0) break;
        pthread_detach(thread);
        pool.workers++;
    }
    return pool.workers + 1;
}

void ttl_parallel_run(int parts, ttl_parallel_body body, void *context) {
    if (parts <= 1 || inside_team || pthread_mutex_trylock(&call_lock) != 0) {
        run_in_turn(parts, body, context);
        return;
    }
    inside_team = 1;
    int team = ensure_workers(parts);
    if (team < parts) {  // threads could not be started: the rest in turn on the caller
        pthread_mutex_unlock(&call_lock);
        inside_team = 0;
        run_in_turn(parts, body, context);
        return;
    }
    pool.body = body;
    pool.context = context;
    pool.parts = parts;
    atomic_store_explicit(&pool.pending, pool.workers, memory_order_relaxed);
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    if (pool.sleepers) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    body(context, 0);

    int spins = 0;
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0 && spins < SPIN_ROUNDS) {
        relax();
        spins++;
    }
    if (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) {
        pthread_mutex_lock(&pool.lock);
        pool.caller_waiting = 1;
        while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) pthread_cond_wait(&pool.done, &pool.lock);
        pool.caller_waiting = 0;
        pthread_mutex_unlock(&pool.lock);
    }
    inside_team = 0;
    pthread_mutex_unlock(&call_lock);
}
