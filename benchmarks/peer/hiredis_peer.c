/*
 * A reference consumer in C on Debian's hiredis, for measurement only (redstream itself never
 * links hiredis). It is the peer redstream's benchmarks compare against in the same run:
 *
 *   pipeline  one connection, --depth XREADGROUP COUNT --count in flight, each reply's XACK
 *             pipelined ahead of the read that replaces it: the strongest raw client we know.
 *   sync      XREADGROUP COUNT --count, wait, XACK, wait: a synchronous read-then-ack loop.
 *   blocking  XREADGROUP COUNT --count BLOCK --block-ms, then XACK: the classic blocking
 *             consumer. Messages carrying a `ts` field (CLOCK_MONOTONIC ns at publish) give
 *             produce->handle latency.
 *
 * Reads name --consumers consumer names in turn. It stops after --messages acknowledged
 * messages or --seconds, whichever comes first, and prints one line of `key=value` results:
 *
 *   peer mode=pipeline messages=300000 seconds=0.41 msgs_per_s=731000 cpu_us_per_msg=0.84
 *        latency_us_p50=... latency_us_p99=... latency_us_p999=...   (latency only if measured)
 *
 *   hiredis_peer --host 127.0.0.1 --port 6379 --stream s --group g --mode pipeline
 *                [--depth 8] [--count 100] [--consumers 1] [--messages N] [--seconds S]
 *                [--block-ms 1000] [--ready-file PATH]
 *
 * --ready-file: written once connected (and the first blocking read sent), so a benchmark can
 * start producing only when the peer listens.
 */
#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum mode { mode_pipeline, mode_sync, mode_blocking };

struct options {
    const char *host;
    int port;
    const char *stream;
    const char *group;
    enum mode mode;
    int depth;
    long count;
    int consumers;
    long messages;
    double seconds;
    long block_ms;
    const char *ready_file;
};

struct tally {
    long acked;
    double *latency_us;
    size_t latencies;
    size_t latency_capacity;
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, redisContext *c) {
    fprintf(stderr, "hiredis_peer: %s%s%s\n", what, c ? ": " : "", c ? c->errstr : "");
    exit(2);
}

static void usage(const char *why) {
    fprintf(stderr, "hiredis_peer: %s\n", why);
    exit(64);
}

static void parse(int argc, char **argv, struct options *o) {
    o->host = "127.0.0.1";
    o->port = 6379;
    o->stream = NULL;
    o->group = NULL;
    o->mode = mode_pipeline;
    o->depth = 8;
    o->count = 100;
    o->consumers = 1;
    o->messages = 0;
    o->seconds = 0;
    o->block_ms = 1000;
    o->ready_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--host")) o->host = v;
        else if (!strcmp(k, "--port")) o->port = atoi(v);
        else if (!strcmp(k, "--stream")) o->stream = v;
        else if (!strcmp(k, "--group")) o->group = v;
        else if (!strcmp(k, "--depth")) o->depth = atoi(v);
        else if (!strcmp(k, "--count")) o->count = atol(v);
        else if (!strcmp(k, "--consumers")) o->consumers = atoi(v);
        else if (!strcmp(k, "--messages")) o->messages = atol(v);
        else if (!strcmp(k, "--seconds")) o->seconds = atof(v);
        else if (!strcmp(k, "--block-ms")) o->block_ms = atol(v);
        else if (!strcmp(k, "--ready-file")) o->ready_file = v;
        else if (!strcmp(k, "--mode")) {
            if (!strcmp(v, "pipeline")) o->mode = mode_pipeline;
            else if (!strcmp(v, "sync")) o->mode = mode_sync;
            else if (!strcmp(v, "blocking")) o->mode = mode_blocking;
            else usage("--mode: expected pipeline, sync or blocking");
        } else usage("unknown option");
    }
    if (argc % 2 == 0)
        usage("options come in pairs: --name value");
    if (!o->stream || !o->group)
        usage("--stream and --group are required");
    if (o->messages <= 0 && o->seconds <= 0)
        usage("give --messages or --seconds");
    if (o->depth < 1 || o->count < 1 || o->consumers < 1)
        usage("--depth, --count and --consumers must be at least 1");
}

static void note_latency(struct tally *t, long long sent_ns) {
    if (t->latencies == t->latency_capacity) {
        t->latency_capacity = t->latency_capacity ? t->latency_capacity * 2 : 65536;
        t->latency_us = realloc(t->latency_us, t->latency_capacity * sizeof(double));
        if (!t->latency_us)
            die("out of memory", NULL);
    }
    t->latency_us[t->latencies++] = (double)(now_ns() - sent_ns) / 1e3;
}

/* The `ts` field's value of one entry ([id, [f1, v1, ...]]), or 0. */
static long long entry_ts(const redisReply *entry) {
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 || entry->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    const redisReply *fields = entry->element[1];
    for (size_t f = 0; f + 1 < fields->elements; f += 2)
        if (fields->element[f]->type == REDIS_REPLY_STRING && !strcmp(fields->element[f]->str, "ts"))
            return atoll(fields->element[f + 1]->str);
    return 0;
}

/*
 * Reads an XREADGROUP reply (RESP2: nil, or [[stream, [[id, fields], ...]]]) and appends one
 * XACK for its ids. Returns the number of entries.
 */
static size_t append_ack_for(redisContext *c, const struct options *o, const redisReply *r, struct tally *t) {
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "hiredis_peer: XREADGROUP: %s\n", r->str);
        exit(2);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return 0;
    const redisReply *entries = r->element[0]->element[1];
    size_t const n = entries->elements;
    if (n == 0)
        return 0;
    const char **argv = malloc((n + 3) * sizeof(char *));
    size_t *lens = malloc((n + 3) * sizeof(size_t));
    argv[0] = "XACK";
    lens[0] = 4;
    argv[1] = o->stream;
    lens[1] = strlen(o->stream);
    argv[2] = o->group;
    lens[2] = strlen(o->group);
    for (size_t i = 0; i < n; ++i) {
        const redisReply *id = entries->element[i]->element[0];
        argv[i + 3] = id->str;
        lens[i + 3] = id->len;
        long long const ts = entry_ts(entries->element[i]);
        if (ts > 0)
            note_latency(t, ts);
    }
    redisAppendCommandArgv(c, (int)(n + 3), argv, lens);
    free(argv);
    free(lens);
    return n;
}

static void append_read(redisContext *c, const struct options *o, int consumer, int block) {
    char name[32], count[32], block_ms[32];
    snprintf(name, sizeof name, "peer-%d", consumer);
    snprintf(count, sizeof count, "%ld", o->count);
    snprintf(block_ms, sizeof block_ms, "%ld", o->block_ms);
    if (block) {
        const char *argv[] = {"XREADGROUP", "GROUP", o->group, name, "COUNT", count, "BLOCK", block_ms,
                              "STREAMS", o->stream, ">"};
        redisAppendCommandArgv(c, 11, argv, NULL);
    } else {
        const char *argv[] = {"XREADGROUP", "GROUP", o->group, name, "COUNT", count, "STREAMS", o->stream, ">"};
        redisAppendCommandArgv(c, 9, argv, NULL);
    }
}

static redisReply *next_reply(redisContext *c) {
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK || !r)
        die("reply", c);
    return r;
}

static int done(const struct options *o, const struct tally *t, double started) {
    if (o->messages > 0 && t->acked >= o->messages)
        return 1;
    return o->seconds > 0 && now_s() - started >= o->seconds;
}

static void signal_ready(const struct options *o) {
    if (!o->ready_file)
        return;
    FILE *f = fopen(o->ready_file, "w");
    if (f)
        fclose(f);
}

/*
 * Pipeline: the connection always carries `depth` reads. Each read reply queues its XACK and a
 * new read; the ack's reply comes back (in order) before the replacement read's. A FIFO of
 * what each outstanding reply is tells them apart.
 */
static void run_pipeline(redisContext *c, const struct options *o, struct tally *t, double started) {
    size_t const cap = (size_t)o->depth * 2 + 4;
    char *kinds = malloc(cap); /* 'r' read, 'a' ack */
    size_t head = 0, outstanding = 0;
    int next_consumer = 0;
    for (int i = 0; i < o->depth; ++i) {
        append_read(c, o, next_consumer, 0);
        next_consumer = (next_consumer + 1) % o->consumers;
        kinds[(head + outstanding++) % cap] = 'r';
    }
    signal_ready(o);
    while (outstanding > 0) {
        redisReply *r = next_reply(c);
        char const kind = kinds[head];
        head = (head + 1) % cap;
        --outstanding;
        if (kind == 'a') {
            if (r->type == REDIS_REPLY_INTEGER)
                t->acked += r->integer;
            freeReplyObject(r);
            continue;
        }
        if (append_ack_for(c, o, r, t) > 0)
            kinds[(head + outstanding++) % cap] = 'a';
        freeReplyObject(r);
        if (!done(o, t, started)) {
            append_read(c, o, next_consumer, 0);
            next_consumer = (next_consumer + 1) % o->consumers;
            kinds[(head + outstanding++) % cap] = 'r';
        }
    }
    free(kinds);
}

/* Sync and blocking: one read, its reply, one XACK, its reply. */
static void run_loop(redisContext *c, const struct options *o, struct tally *t, double started) {
    int const block = o->mode == mode_blocking;
    int consumer = 0;
    int first = 1;
    while (!done(o, t, started)) {
        append_read(c, o, consumer, block);
        consumer = (consumer + 1) % o->consumers;
        if (first) {
            /* the read is written by the redisGetReply below; close enough for "listening" */
            signal_ready(o);
            first = 0;
        }
        redisReply *r = next_reply(c);
        size_t const n = append_ack_for(c, o, r, t);
        freeReplyObject(r);
        if (n == 0)
            continue;
        redisReply *a = next_reply(c);
        if (a->type == REDIS_REPLY_INTEGER)
            t->acked += a->integer;
        freeReplyObject(a);
    }
}

static int by_value(const void *a, const void *b) {
    double const x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const struct tally *t, double p) {
    size_t const i = (size_t)(p / 100.0 * (double)(t->latencies - 1) + 0.5);
    return t->latency_us[i < t->latencies ? i : t->latencies - 1];
}

int main(int argc, char **argv) {
    struct options o;
    parse(argc, argv, &o);
    redisContext *c = redisConnect(o.host, o.port);
    if (!c || c->err)
        die("connect", c);
    struct tally t = {0, NULL, 0, 0};
    double const cpu0 = cpu_s();
    double const started = now_s();
    if (o.mode == mode_pipeline)
        run_pipeline(c, &o, &t, started);
    else
        run_loop(c, &o, &t, started);
    double const elapsed = now_s() - started;
    double const cpu = cpu_s() - cpu0;
    char const *names[] = {"pipeline", "sync", "blocking"};
    printf("peer mode=%s messages=%ld seconds=%.3f msgs_per_s=%.0f cpu_us_per_msg=%.3f", names[o.mode], t.acked,
           elapsed, elapsed > 0 ? (double)t.acked / elapsed : 0.0, t.acked > 0 ? cpu * 1e6 / (double)t.acked : 0.0);
    if (t.latencies > 0) {
        qsort(t.latency_us, t.latencies, sizeof(double), by_value);
        printf(" latency_us_p50=%.1f latency_us_p99=%.1f latency_us_p999=%.1f", percentile(&t, 50),
               percentile(&t, 99), percentile(&t, 99.9));
    }
    printf("\n");
    free(t.latency_us);
    redisFree(c);
    return 0;
}
