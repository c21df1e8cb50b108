/* SPDX-License-Identifier: MIT */
/*
 * space.c: the data file's room (see space.h for the reserve, S1, and the
 * shrink, S2): growth in chunks, the reserve's size, the checkpoint that a
 * txn out of room may force, the cut of the file's free end, and
 * ldb_stat_space.
 */
#include "space.h"

#include <errno.h>
#include <string.h>

#include "commit.h"
#include "durable.h"
#include "error.h"
#include "meta.h"
#include "os.h"

/* Leaves a txn that only deletes may change with the reserve alone (each a
 * copy of its root-to-leaf path), and the free tree pages its commit needs
 * (the copy of the free tree's path and a split or two). */
#define RESERVE_PATHS 8u
#define RESERVE_FREE_TREE 16u

/* Pages the file may grow to: max_size bounds this env's growth, but pages
 * the file already holds (another env, with a larger max_size, may have
 * grown it) are free to use, so such an env can still delete. The map
 * follows the file (ldb__env_map_cover), never the other way round. */
static uint64_t limit_pages(const ldb_env *env, uint64_t file_size)
{
    uint64_t bytes = env->opts.max_size > file_size ? env->opts.max_size : file_size;
    return bytes / env->page_size;
}

/* Growth step: small (growth costs no sync of its own, the next
 * checkpoint's fsync covers it, so there is no reason to hold much unused
 * space), and the least a shrink must give back to be worth its commit. */
static uint64_t grow_chunk(uint64_t file_size)
{
    uint64_t chunk = file_size / 64;
    if (chunk < (1u << 20))
        chunk = 1u << 20;
    if (chunk > (8u << 20))
        chunk = 8u << 20;
    return chunk;
}

/* The lock file's record of the data file's allocated size (the writer
 * mutex held: only writers change it). */
static int set_data_size(ldb_env *env, uint64_t size)
{
    struct ldb__commit_state cs;
    TRY(ldb__lock_state_read(&env->lock, &cs));
    cs.data_size = size;
    return ldb__lock_state_write(&env->lock, &cs);
}

uint64_t ldb__space_reserve(const ldb_env *env, const struct ldb__snapshot *snap)
{
    /* A path is the tree's depth in pages; the deeper of the main tree and
     * three levels (named trees are not looked at: a fourth level takes
     * millions of entries). At most a sixteenth of max_size. */
    uint64_t depth = snap->main_tree.depth > 3 ? snap->main_tree.depth : 3;
    uint64_t r = RESERVE_PATHS * (depth + 1) + RESERVE_FREE_TREE;
    uint64_t cap = env->opts.max_size / env->page_size / 16;
    return r < cap ? r : cap;
}

int ldb__space_grow(ldb_txn *txn, uint64_t pages)
{
    ldb_env *env = txn->env;
    uint64_t need = pages * env->page_size;
    if (need <= txn->file_size)
        return 0;
    uint64_t target = need + grow_chunk(txn->file_size);
    target -= target % env->page_size;
    if (target > env->opts.max_size)
        target = env->opts.max_size - env->opts.max_size % env->page_size;
    if (target < need)
        target = need;
    int rc = ldb__os_grow(env->fd, target);
    if (rc < 0 && target > need) {
        target = need;
        rc = ldb__os_grow(env->fd, need); /* the disk may still hold what we need */
    }
    TRY(rc);
    /* Its new size is made durable by the next checkpoint's fsync, before
     * any meta page refers to the new pages. */
    txn->file_size = target;
    return set_data_size(env, target);
}

int ldb__space_extend(ldb_txn *txn, uint32_t n, pgno_t *pgno)
{
    ldb_env *env = txn->env;
    uint64_t end, bytes;
    /* Page counts come from disk too: never let the sum or product wrap. */
    if (__builtin_add_overflow(txn->snap.npages, (uint64_t)n, &end) ||
        __builtin_mul_overflow(end, (uint64_t)env->page_size, &bytes))
        return LDB_FULL;
    /* Recovery replays txns that committed: they had their room then. */
    uint64_t keep = txn->adds == 0 || txn->replaying ? 0 : ldb__space_reserve(env, &txn->snap);
    if (end + keep > limit_pages(env, txn->file_size))
        return LDB_FULL;
    TRY(ldb__space_grow(txn, end + keep));
    TRY(ldb__env_map_cover(env, bytes, &txn->pager.map));
    *pgno = txn->snap.npages;
    txn->snap.npages = end;
    txn->pager.npages = end;
    return 0;
}

int ldb__space_unlock_held(ldb_txn *txn)
{
    ldb_env *env = txn->env;
    struct ldb__freelist *fl = &txn->freelist;
    /* Not inside a free tree edit (it could not load them), nor while
     * recovering (the log being replayed must stay as it is). */
    if (!fl->held_for_checkpoint || fl->busy || txn->replaying || env->recovering ||
        env->wal_fd < 0)
        return 0;
    TRY(ldb__checkpoint_locked(env, NULL));
    uint64_t cp = __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE);
    if (cp == fl->checkpoint)
        return 0;
    TRY(ldb__freelist_checkpointed(fl, cp));
    fl->reuse_bound = ldb__txn_reuse_bound(env);
    fl->held_back = 0;
    return 1;
}

/* One round of the shrink, in a txn with every loadable free page in its
 * pool: cut the pool's pages that run up to the high-water mark and commit
 * as a checkpoint, if the run is at least a growth step (less would soon
 * be grown back). Loading the records copied the free tree's own pages,
 * which this txn frees: they cannot be cut before its commit, so they count
 * in the run and a further round cuts them. *cut: pages cut; *again:
 * another round may cut more. */
static int trim_round(ldb_txn *txn, uint64_t *cut, int *again)
{
    ldb_env *env = txn->env;
    *cut = 0;
    *again = 0;
    uint64_t run;
    TRY(ldb__freelist_tail_run(&txn->freelist, txn->snap.npages, &run));
    if (run * env->page_size < grow_chunk(txn->file_size))
        return 0;
    uint64_t n = ldb__freelist_cut_tail(&txn->freelist, txn->snap.npages);
    txn->snap.npages -= n;
    txn->pager.npages = txn->snap.npages;
    /* Nothing for the log to carry: the checkpoint is the commit, and its
     * meta page (the smaller high-water mark) is synced before the file is
     * cut. */
    txn->log.too_big = 1;
    txn->mods++;
    TRY(ldb__commit(txn));
    *cut = n;
    *again = run > n;
    return 0;
}

/* Relocation: what may move (the shrink's ctx for ldb__btree_relocate). */
struct move_ctx {
    const struct ldb__freelist *fl;
    uint64_t bound; /* pages at or past this are moved if they can go lower */
};

static int want_move(void *ctx, pgno_t pgno, uint32_t npages)
{
    const struct move_ctx *m = ctx;
    const struct ldb__pgno_list *pool = &m->fl->pool;
    /* The allocator takes the lowest free page first (runs: the lowest
     * that fits); a page with none below it stays. */
    return pgno + npages > m->bound && pool->len >= npages && pool->items[pool->len - 1] < m->bound;
}

/* Free pages are many but scattered (a random load frees pages of the
 * checkpointed trees everywhere): copy the live pages past the number the
 * trees need into free pages below it, and commit as a checkpoint, so the
 * next round finds the end of the file free. Only the main tree and the
 * catalog move (named trees' descriptors live in the catalog's values and
 * stay where they are). *moved: pages copied. A txn that would have grown
 * the file is not committed (its end frees what it took). */
static int relocate_round(ldb_txn *txn, uint64_t *moved)
{
    ldb_env *env = txn->env;
    *moved = 0;
    uint64_t npages = txn->snap.npages, nfree = txn->freelist.pool.len;
    if (nfree * env->page_size < 2 * grow_chunk(txn->file_size) || nfree < npages / 16)
        return 0;
    /* The bound leaves room below it for what the moves themselves take
     * there (copies of the branch pages above moved pages, the free tree
     * written at commit): one page left above it would stop the cut. */
    const struct tree_desc *ft = &txn->snap.free_tree;
    uint64_t slack = 2 * (ft->branch_pages + ft->leaf_pages) + 64 + npages / 512;
    if (slack > nfree)
        return 0;
    struct move_ctx m = {&txn->freelist, npages - nfree + slack};
    uint64_t before = txn->dirty.count;
    TRY(ldb__btree_relocate(&txn->pager, &txn->snap.main_tree, want_move, &m));
    TRY(ldb__btree_relocate(&txn->pager, &txn->snap.catalog_tree, want_move, &m));
    if (txn->snap.npages > npages || txn->dirty.count == before)
        return 0;
    uint64_t n = txn->dirty.count - before;
    txn->log.too_big = 1; /* a checkpoint: nothing for the log to carry */
    txn->mods++;
    TRY(ldb__commit(txn));
    *moved = n;
    return 0;
}

/* Raise *pages to the largest count either meta page names (S3): the
 * fallback meta must stay whole, or a newest meta damaged later leaves a
 * database that names pages the file lost. A checkpoint's copy of its meta
 * in the other slot is written unsynced (durable.c): sync it first, so the
 * fallback is normally that copy and the cut loses nothing. A slot that
 * does not check (a copy whose write failed is then the older meta, still
 * valid) names nothing. */
static int metas_floor(ldb_env *env, uint64_t *pages)
{
    if (ldb__os_fdatasync(env->fd) < 0)
        return ldb__panic(env, 0); /* never retried (durable.h) */
    uint8_t image[LDB_META_BYTES];
    for (unsigned slot = 0; slot < 2; slot++) {
        struct meta_page m;
        TRY(ldb__os_pread_full(env->fd, image, sizeof image, slot * (uint64_t)env->page_size));
        if (ldb__meta_check(image, slot, &m) == 0 && m.npages > *pages)
            *pages = m.npages;
    }
    return 0;
}

static int trim(ldb_env *env, int relocate)
{
    uint64_t total = 0;
    /* With an archive, no trim round: its txn commits as a checkpoint, with
     * no log record, so the archive would miss its txn id (a gap that
     * fails every restore past it, archive.h). The cut below needs no txn. */
    int again = env->archive_fd < 0;
    for (int round = 0; again && round < 8; round++) {
        ldb_txn *txn;
        TRY(ldb__txn_begin_locked(env, &txn));
        uint64_t cut = 0, moved = 0;
        int rc = ldb__freelist_load_all(&txn->freelist, &txn->pager, &txn->snap.free_tree);
        if (rc == 0)
            rc = trim_round(txn, &cut, &again);
        /* A relocation when there was no tail to cut: the next round cuts
         * what it freed. Pages that the branch pages above the moved ones
         * and the free tree took below the bound push some moved pages
         * above it, so up to three relocations, each moving fewer. Not in
         * a txn that trim_round committed, which it does with nothing cut
         * when the file's last pages are the free tree's own (freed by
         * loading its records): a second commit of that txn would write
         * over its free tree in place, under its id, which is checkpointed
         * already, so neither the meta nor the commit state would follow,
         * and the free tree would no longer match the trees. */
        if (rc == 0 && !txn->committed && relocate > 0) {
            rc = relocate_round(txn, &moved);
            relocate = moved != 0 ? relocate - 1 : 0;
            again = moved != 0;
        } else if (txn->committed && relocate > 0) {
            again = 1;
        }
        ldb__txn_end_locked(txn);
        TRY(rc);
        total += cut;
    }
    /* Cut the file to the committed state's pages and the reserve: after
     * pages were cut above, or when more than two growth steps were grown
     * and never used (one is the normal slack of a growth). */
    struct ldb__commit_state cs;
    TRY(ldb__lock_state_read(&env->lock, &cs));
    uint64_t keep = cs.snap.npages + ldb__space_reserve(env, &cs.snap);
    /* Never below the committed pages (the cap is at least data_size). */
    if (keep > limit_pages(env, cs.data_size))
        keep = limit_pages(env, cs.data_size);
    uint64_t size = keep * env->page_size;
    if (size >= cs.data_size || (total == 0 && size + 2 * grow_chunk(size) > cs.data_size))
        return 0;
    /* Nor below any page a meta page on disk names (S3). */
    TRY(metas_floor(env, &keep));
    size = keep * env->page_size;
    if (size >= cs.data_size)
        return 0;
    TRY(ldb__os_truncate(env->fd, size));
    return set_data_size(env, size);
}

int ldb__space_trim(ldb_env *env, int relocate)
{
    relocate = relocate ? 3 : 0;
    if (env->wal_fd < 0 || env->recovering || ldb__log_failed(env))
        return 0;
    /* Giving space back is never what a checkpoint or a txn is for: a
     * failure leaves the file as it was (a commit that failed made nothing
     * visible), and only a panic is passed on. */
    int rc = trim(env, relocate);
    return rc == LDB_PANIC ? rc : 0;
}

int ldb_stat_space(ldb_env *env, ldb_space *out, size_t size)
{
    TRY(ldb__env_check(env));
    if (out == NULL || size == 0)
        return LDB_INVALID;
    ldb_space sp;
    memset(&sp, 0, sizeof sp);
    ldb_txn *txn;
    TRY(ldb_txn_begin(env, LDB_TXN_RDONLY, &txn));
    uint64_t cp = __atomic_load_n(&env->lock.hdr->checkpoint_txnid, __ATOMIC_ACQUIRE);
    struct ldb__free_census c;
    int rc = ldb__freelist_census(&txn->pager, &txn->snap.free_tree, ldb__txn_reuse_bound(env),
                                  cp, &c);
    uint64_t file_size = 0;
    if (rc == 0)
        rc = ldb__os_file_size(env->fd, &file_size);
    sp.page_size = env->page_size;
    sp.file_pages = file_size / env->page_size;
    sp.free_pages = c.reusable + c.for_readers + c.for_checkpoint;
    sp.used_pages = txn->snap.npages - sp.free_pages;
    sp.reusable_pages = c.reusable;
    sp.reader_held_pages = c.for_readers;
    sp.checkpoint_held_pages = c.for_checkpoint;
    sp.unused_pages = sp.file_pages > txn->snap.npages ? sp.file_pages - txn->snap.npages : 0;
    sp.reserve_pages = ldb__space_reserve(env, &txn->snap);
    sp.last_txn_id = txn->snap.txnid;
    sp.checkpoint_txn_id = cp;
    ldb_txn_abort(txn);
    TRY(rc);
    /* After our own reader is gone: the oldest of the others. */
    uint32_t used;
    ldb__lock_reader_stats(&env->lock, &used, &sp.oldest_reader_txn_id);
    memcpy(out, &sp, size < sizeof sp ? size : sizeof sp);
    return 0;
}
