//! The crate's one sort, for the tables built at start or per listing (`--mime-types`, a
//! directory's entries): a heapsort by hand, O(n log n) at worst with no allocation, because
//! the standard library's sorts, instantiated for each element type, add kilobytes each to a
//! binary that must stay under 1 MiB. Not stable: callers that need an order among equal keys
//! put it in `less`.

/// Sorts `v` so that no element is `less` than the one before it.
pub(crate) fn heapsort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let sift = |v: &mut [T], mut node: usize| loop {
        let mut child = 2 * node + 1;
        if child >= v.len() {
            break;
        }
        if child + 1 < v.len() && less(&v[child], &v[child + 1]) {
            child += 1;
        }
        if !less(&v[node], &v[child]) {
            break;
        }
        v.swap(node, child);
        node = child;
    };
    for node in (0..v.len() / 2).rev() {
        sift(v, node);
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift(&mut v[..end], 0);
    }
}

#[cfg(test)]
mod tests {
    use super::heapsort;

    #[test]
    fn heapsort_sorts_like_the_standard_sort() {
        let mut rng = crate::http::tests::XorShift::new(7);
        for len in [0, 1, 2, 3, 10, 100, 1000] {
            let mut v: Vec<u64> = (0..len).map(|_| rng.next() % 50).collect();
            let mut want = v.clone();
            want.sort();
            heapsort(&mut v, |a, b| a < b);
            assert_eq!(v, want, "{len}");
        }
    }
}
