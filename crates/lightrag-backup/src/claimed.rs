//! The chunk ids a backup has claimed (decided to store) so far, for deduplication within the
//! run: exact (no id is ever forgotten or assumed), in about 36 bytes per id.
//!
//! A hash set of 32-byte ids holds each in a table kept between 7/16 and 7/8 full: 38 to 75
//! bytes per id, ~64 on a 20 000-doc first backup (274 000 chunks, 17 MB of a 76 MB peak). Here
//! most ids live in one sorted array sized exactly (32 bytes each); the newest claims go to a
//! small hash set, merged into the array (in place, from the back) when it reaches a sixteenth
//! of the array (at least [`RECENT_MIN`]): merging copies each id about 17 times on average,
//! and the set's table adds 2 to 5 bytes per id once a shard holds more than 1024 ids (a
//! fixed 4 KiB per shard below that). That computes to ~36 bytes per id at the 20 000-doc
//! size; the measured peak fell 5.7 MB (74 296 to 68 604 KiB), not the 7.5 MB computed, since
//! the peak is not only the set.

use std::collections::HashSet;

use crate::format::ChunkId;

/// The recent set is merged into the sorted array once it holds this many ids, or a
/// sixteenth of the array, whichever is more.
const RECENT_MIN: usize = 64;

/// Claimed chunk ids (one shard of them).
#[derive(Debug, Default)]
pub(crate) struct Claimed {
    /// Sorted, without duplicates; grown by `reserve_exact`, so with little or no spare
    /// capacity.
    merged: Vec<ChunkId>,
    /// Claimed since the last merge; disjoint from `merged`.
    recent: HashSet<ChunkId>,
}

impl Claimed {
    /// Whether `id` was claimed.
    pub(crate) fn contains(&self, id: &ChunkId) -> bool {
        self.recent.contains(id) || self.merged.binary_search(id).is_ok()
    }

    /// Claim `id`: true when it was not claimed before (the caller stores the chunk).
    pub(crate) fn insert(&mut self, id: ChunkId) -> bool {
        if self.merged.binary_search(&id).is_ok() || !self.recent.insert(id) {
            return false;
        }
        if self.recent.len() >= RECENT_MIN.max(self.merged.len() / 16) {
            self.merge();
        }
        true
    }

    /// Ids claimed in all.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.merged.len() + self.recent.len()
    }

    /// Merge `recent` into `merged` in place, from the back: the array grows once, by
    /// `reserve_exact` (a large block's `realloc` extends or remaps it where it can), instead of
    /// a second array being built beside it.
    fn merge(&mut self) {
        let mut recent: Vec<ChunkId> = self.recent.drain().collect();
        recent.sort_unstable();
        let old = self.merged.len();
        self.merged.reserve_exact(recent.len());
        self.merged.resize(old + recent.len(), ChunkId([0; 32]));
        // Slots from `i + j` on are placed; the larger of `merged[i - 1]` and `recent[j - 1]`
        // goes to slot `i + j - 1`. Once `recent` is placed, `merged[..i]` is where it belongs.
        let (mut i, mut j) = (old, recent.len());
        while j > 0 {
            let k = i + j - 1;
            if i > 0 && self.merged[i - 1] > recent[j - 1] {
                self.merged[k] = self.merged[i - 1];
                i -= 1;
            } else {
                self.merged[k] = recent[j - 1];
                j -= 1;
            }
        }
        // The set's table stays for the next claims: at most a sixteenth of the array.
    }
}

#[cfg(test)]
mod tests {
    use super::{Claimed, RECENT_MIN};
    use crate::format::ChunkId;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// A well-spread id for `n` (splitmix64 of it, four times), cheaper than a hash.
    fn id(n: u64) -> ChunkId {
        let mut out = [0u8; 32];
        let mut x = n;
        for part in out.chunks_mut(8) {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            part.copy_from_slice(&(z ^ (z >> 31)).to_be_bytes());
        }
        ChunkId(out)
    }

    #[test]
    fn every_claim_is_remembered_across_merges() {
        let mut c = Claimed::default();
        let n = 40 * RECENT_MIN as u64;
        for k in 0..n {
            assert!(c.insert(id(k)), "{k} claimed twice");
        }
        assert!(
            c.merged.len() > n as usize / 2,
            "the ids were merged into the array ({} of {n})",
            c.merged.len()
        );
        assert!(
            c.merged.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert!(
            c.merged.capacity() <= c.merged.len() + c.merged.len() / 16,
            "little spare capacity ({} for {})",
            c.merged.capacity(),
            c.merged.len()
        );
        for k in 0..n {
            assert!(c.contains(&id(k)), "{k} forgotten");
            assert!(!c.insert(id(k)), "{k} claimed again");
        }
        for k in n..n + 1000 {
            assert!(!c.contains(&id(k)), "{k} never claimed");
        }
        assert_eq!(c.len(), n as usize);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any order of claims and lookups answers as an exact set, through merges of 64 ids
        /// and of a sixteenth of the array (keys below 40 000, so a case claims up to ~10 000
        /// distinct ids).
        #[test]
        fn answers_as_a_set(ops in proptest::collection::vec((any::<bool>(), 0u64..40_000), 0..25_000)) {
            let (mut c, mut model) = (Claimed::default(), HashSet::new());
            for (claim, k) in ops {
                if claim {
                    prop_assert_eq!(c.insert(id(k)), model.insert(k));
                } else {
                    prop_assert_eq!(c.contains(&id(k)), model.contains(&k));
                }
            }
            prop_assert_eq!(c.len(), model.len());
        }
    }
}
