//! A latency histogram: counts of nanosecond values in log-linear buckets, so recording is a
//! few integer operations and quantiles come with a bounded relative error.
//!
//! The layout is HdrHistogram's. Values below [`SUB_BUCKETS`] have a bucket each. Above that,
//! every power of two `[2^k, 2^(k+1))` is cut into [`SUB_BUCKETS`] equal sub-buckets, each
//! `2^(k-5)` wide, so a bucket is never wider than 1/32 of its lowest value: any value read back
//! from a bucket is within about 3% of every value recorded into it. The buckets reach
//! [`HIGHEST_TRACKABLE`] (2^42 - 1 ns, about 73 minutes); larger values are counted in the top
//! bucket and in [`Histogram::clamped`]. The exact minimum, maximum and sum are kept beside the
//! buckets, so `min`, `max` and `mean` carry no bucket error.
//!
//! The bucket array is allocated once, in [`Histogram::new`]; recording never allocates. A
//! benchmark thread keeps its own histogram and the owner [`merge`](Histogram::merge)s them at
//! the end, so the hot path shares nothing.

use std::fmt;

/// Sub-buckets per power of two, as a power of two: 2^5 = 32, for a relative error under 1/32.
const SUB_BITS: u32 = 5;

/// Linear sub-buckets in each power of two; also the count of values stored exactly (0..32).
pub const SUB_BUCKETS: usize = 1 << SUB_BITS;

/// The highest power of two tracked: buckets end just below 2^(TOP_BIT + 1).
const TOP_BIT: u32 = 41;

/// The largest value with a bucket of its own range: 2^42 - 1 ns, about 73 minutes. Larger
/// values land in the top bucket and are counted by [`Histogram::clamped`].
pub const HIGHEST_TRACKABLE: u64 = (1 << (TOP_BIT + 1)) - 1;

// The promise in the module docs: an hour, in nanoseconds, fits below the top.
const _: () = assert!(HIGHEST_TRACKABLE > 3_600 * 1_000_000_000);

/// Buckets in all: the exact ones below `SUB_BUCKETS`, then one group of `SUB_BUCKETS` for each
/// power of two from 2^5 to 2^TOP_BIT.
const BUCKETS: usize = SUB_BUCKETS * (1 + (TOP_BIT - SUB_BITS + 1) as usize);

/// Counts of recorded values in log-linear buckets, with the exact min, max and sum.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    /// `u64::MAX` while empty, so merging an empty histogram changes nothing.
    min: u64,
    max: u64,
    /// Exact: a u128 holds 2^64 values of 2^64 each.
    sum: u128,
    clamped: u64,
}

impl Histogram {
    /// An empty histogram; the only allocation it ever makes (about 10 KiB).
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
            clamped: 0,
        }
    }

    /// Counts one value, in nanoseconds. Any `u64` is accepted: values above
    /// [`HIGHEST_TRACKABLE`] go to the top bucket (and into [`clamped`](Self::clamped)), while
    /// `min`, `max` and `mean` still see the value itself.
    pub fn record(&mut self, value_ns: u64) {
        let index = if value_ns > HIGHEST_TRACKABLE {
            self.clamped = self.clamped.saturating_add(1);
            BUCKETS - 1
        } else {
            bucket_of(value_ns)
        };
        // Saturating: an impossible overflow still must not panic in a debug build.
        self.counts[index] = self.counts[index].saturating_add(1);
        self.count = self.count.saturating_add(1);
        self.min = self.min.min(value_ns);
        self.max = self.max.max(value_ns);
        self.sum = self.sum.saturating_add(u128::from(value_ns));
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether nothing was recorded.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The smallest value recorded, exactly; 0 when empty.
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// The largest value recorded, exactly (even above [`HIGHEST_TRACKABLE`]); 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The mean of the values recorded, from their exact sum; 0.0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// How many recorded values were above [`HIGHEST_TRACKABLE`] and counted in the top bucket.
    #[cfg(test)]
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The value at quantile `q` (0.5 for the median, 0.999 for p99.9): the highest value of the
    /// bucket holding the value of rank `ceil(q * count)`, kept within the exact `[min, max]`.
    /// It is at or above the true value, by less than 1/32 of it (unless the true value was
    /// above [`HIGHEST_TRACKABLE`]). `q` is clamped to `[0, 1]`; NaN counts as 0. Empty: 0.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        // The float product is exact enough: ranks beyond 2^53 are far past any benchmark.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (index, &n) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(n);
            if seen >= rank {
                // The clamped values sit at the top of the top bucket, above its range; only
                // the max says where they were.
                if index == BUCKETS - 1 && rank > seen.saturating_sub(self.clamped) {
                    return self.max;
                }
                // `min` then `max` rather than `clamp`, which panics if its bounds cross.
                return bucket_high(index).min(self.max).max(self.min);
            }
        }
        // Unreachable while the counts add up to `count`; the max is the honest answer anyway.
        self.max
    }

    /// Adds every value recorded in `other`, as if they had been recorded here.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
        self.count = self.count.saturating_add(other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum = self.sum.saturating_add(other.sum);
        self.clamped = self.clamped.saturating_add(other.clamped);
    }

    /// Forgets everything recorded (after a warm-up), keeping the allocation.
    #[cfg(test)]
    pub fn reset(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.min = u64::MAX;
        self.max = 0;
        self.sum = 0;
        self.clamped = 0;
    }
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

/// A summary rather than a thousand bucket counts.
impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max)
            .field("mean", &self.mean())
            .field("clamped", &self.clamped)
            .finish()
    }
}

/// The bucket of a value no larger than [`HIGHEST_TRACKABLE`].
fn bucket_of(value: u64) -> usize {
    if value < SUB_BUCKETS as u64 {
        return value as usize;
    }
    // `top` is the position of the highest set bit, at least SUB_BITS here; the SUB_BITS bits
    // below it pick the sub-bucket. Groups follow the exact buckets without a gap: for values
    // 32..64 the index is the value itself.
    let top = 63 - value.leading_zeros();
    let shift = top - SUB_BITS;
    let sub = ((value >> shift) as usize) & (SUB_BUCKETS - 1);
    SUB_BUCKETS * (1 + shift as usize) + sub
}

/// The lowest value of a bucket.
fn bucket_low(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64;
    }
    let shift = index / SUB_BUCKETS - 1;
    let sub = index % SUB_BUCKETS;
    ((SUB_BUCKETS + sub) as u64) << shift
}

/// The highest value of a bucket.
fn bucket_high(index: usize) -> u64 {
    let width = if index < SUB_BUCKETS {
        1
    } else {
        1u64 << (index / SUB_BUCKETS - 1)
    };
    bucket_low(index) + (width - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_NS: u64 = 3_600 * 1_000_000_000;

    fn filled(values: &[u64]) -> Histogram {
        let mut h = Histogram::new();
        for &v in values {
            h.record(v);
        }
        h
    }

    fn uniform() -> Vec<u64> {
        (1..=1_000_000).collect()
    }

    fn constant() -> Vec<u64> {
        vec![5_000; 1_000]
    }

    /// 900 fast answers at 100 µs and 100 slow ones at 10 ms.
    fn two_clusters() -> Vec<u64> {
        let mut v = vec![100_000; 900];
        v.extend(vec![10_000_000; 100]);
        v
    }

    fn one_hour() -> Vec<u64> {
        vec![HOUR_NS]
    }

    /// 999 values of 1 µs and one stall of two hours, above the tracked range.
    fn one_stall() -> Vec<u64> {
        let mut v = vec![1_000; 999];
        v.push(2 * HOUR_NS);
        v
    }

    fn empty() -> Vec<u64> {
        Vec::new()
    }

    /// Whether `got` is within the histogram's error bound of `want`.
    fn close(got: u64, want: u64) -> bool {
        got.abs_diff(want) as f64 <= want as f64 / SUB_BUCKETS as f64
    }

    #[test]
    fn quantiles_are_within_the_error_bound() {
        type Case = (&'static str, fn() -> Vec<u64>, &'static [(f64, u64)]);
        let cases: &[Case] = &[
            (
                "uniform 1..=1e6",
                uniform,
                &[
                    (0.0, 1),
                    (0.5, 500_000),
                    (0.9, 900_000),
                    (0.99, 990_000),
                    (0.999, 999_000),
                    (1.0, 1_000_000),
                ],
            ),
            (
                "constant",
                constant,
                &[(0.0, 5_000), (0.5, 5_000), (0.999, 5_000), (1.0, 5_000)],
            ),
            (
                "two clusters",
                two_clusters,
                &[
                    (0.5, 100_000),
                    (0.9, 100_000),
                    (0.901, 10_000_000),
                    (0.99, 10_000_000),
                    (1.0, 10_000_000),
                ],
            ),
            (
                "one hour",
                one_hour,
                &[(0.0, HOUR_NS), (0.5, HOUR_NS), (1.0, HOUR_NS)],
            ),
            (
                "one stall past the top",
                one_stall,
                &[(0.5, 1_000), (0.999, 1_000), (1.0, 2 * HOUR_NS)],
            ),
            ("empty", empty, &[(0.0, 0), (0.5, 0), (1.0, 0)]),
        ];
        for (name, values, want) in cases {
            let h = filled(&values());
            for &(q, v) in want.iter() {
                let got = h.value_at_quantile(q);
                assert!(close(got, v), "{name}: q {q} gave {got}, want {v}");
            }
        }
    }

    #[test]
    fn exact_summaries() {
        // (name, values, count, min, max, mean, clamped)
        type Case = (&'static str, fn() -> Vec<u64>, u64, u64, u64, f64, u64);
        let cases: &[Case] = &[
            ("uniform", uniform, 1_000_000, 1, 1_000_000, 500_000.5, 0),
            ("constant", constant, 1_000, 5_000, 5_000, 5_000.0, 0),
            (
                "two clusters",
                two_clusters,
                1_000,
                100_000,
                10_000_000,
                1_090_000.0,
                0,
            ),
            (
                "one stall",
                one_stall,
                1_000,
                1_000,
                2 * HOUR_NS,
                7_200_000_999.0,
                1,
            ),
            ("empty", empty, 0, 0, 0, 0.0, 0),
        ];
        for &(name, values, count, min, max, mean, clamped) in cases {
            let h = filled(&values());
            assert_eq!(h.count(), count, "{name}");
            assert_eq!(h.is_empty(), count == 0, "{name}");
            assert_eq!(h.min(), min, "{name}");
            assert_eq!(h.max(), max, "{name}");
            assert!((h.mean() - mean).abs() < 1e-6, "{name}: mean {}", h.mean());
            assert_eq!(h.clamped(), clamped, "{name}");
        }
    }

    #[test]
    fn merge_equals_recording_all_into_one() {
        let sets: &[(&str, Vec<u64>)] = &[
            ("uniform", uniform()),
            ("two clusters", two_clusters()),
            ("one stall", one_stall()),
            ("empty", empty()),
        ];
        for (name, values) in sets {
            let whole = filled(values);
            // Every third value to one side, the rest to the other, so both halves are mixed.
            let a: Vec<u64> = values.iter().step_by(3).copied().collect();
            let b: Vec<u64> = (values.iter().enumerate())
                .filter(|(i, _)| i % 3 != 0)
                .map(|(_, &v)| v)
                .collect();
            let mut merged = filled(&a);
            merged.merge(&filled(&b));
            assert_eq!(merged, whole, "{name}");
            // Merging an empty histogram changes nothing, either way round.
            let mut into_empty = Histogram::new();
            into_empty.merge(&whole);
            assert_eq!(into_empty, whole, "{name} into empty");
            merged.merge(&Histogram::new());
            assert_eq!(merged, whole, "{name} with empty");
        }
    }

    #[test]
    fn reset_forgets_everything() {
        let mut h = filled(&two_clusters());
        h.record(u64::MAX);
        h.reset();
        assert_eq!(h, Histogram::new());
        h.record(7);
        assert_eq!((h.count(), h.min(), h.max()), (1, 7, 7));
    }

    #[test]
    fn buckets_tile_the_range_with_bounded_width() {
        let mut next = 0;
        for index in 0..BUCKETS {
            let (low, high) = (bucket_low(index), bucket_high(index));
            assert_eq!(low, next, "bucket {index} starts where the last ended");
            assert_eq!(bucket_of(low), index);
            assert_eq!(bucket_of(high), index);
            // The error bound: a bucket is at most 1/32 as wide as its lowest value.
            assert!((high - low + 1) * SUB_BUCKETS as u64 <= low.max(SUB_BUCKETS as u64));
            next = high + 1;
        }
        assert_eq!(next - 1, HIGHEST_TRACKABLE);
    }

    #[test]
    fn every_value_reads_back_within_one_in_32() {
        // A sweep: every value to 4096, then ~1% steps up to the top. The 0 and the top value
        // recorded beside each keep the exact min/max clamp from hiding the bucket's error.
        let mut values: Vec<u64> = (1..=4096).collect();
        let mut v = 4096u64;
        while v < HIGHEST_TRACKABLE {
            values.push(v);
            values.push(v + 1);
            v += v / 97 + 1;
        }
        values.push(HIGHEST_TRACKABLE);
        let mut h = Histogram::new();
        for v in values {
            h.reset();
            h.record(0);
            h.record(v);
            h.record(HIGHEST_TRACKABLE);
            let got = h.value_at_quantile(0.5);
            assert!(got >= v, "{v} read back as {got}, below it");
            assert!(
                (got - v) * (SUB_BUCKETS as u64) < v,
                "{v} read back as {got}"
            );
        }
    }

    #[test]
    fn extremes_do_not_panic() {
        let mut h = filled(&[0, u64::MAX, u64::MAX, 0, 1]);
        assert_eq!(
            (h.count(), h.min(), h.max(), h.clamped()),
            (5, 0, u64::MAX, 2)
        );
        let qs = [
            f64::NAN,
            -1.0,
            0.0,
            0.5,
            0.999,
            1.0,
            2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for q in qs {
            let _ = h.value_at_quantile(q);
        }
        assert_eq!(h.value_at_quantile(0.0), 0);
        assert_eq!(h.value_at_quantile(f64::NAN), 0);
        assert_eq!(h.value_at_quantile(1.0), u64::MAX);
        assert_eq!(h.value_at_quantile(2.0), u64::MAX);
        let mean = h.mean();
        assert!((mean - 2.0 * u64::MAX as f64 / 5.0).abs() / mean < 1e-9);
        let copy = h.clone();
        h.merge(&copy);
        assert_eq!(h.count(), 10);
        assert!(!format!("{h:?}").is_empty());
    }
}
