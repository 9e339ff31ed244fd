//! One stable sort for everything the request path orders by a string (query parameters,
//! kept cookies, `Vary` names, key parts, name patterns).
//!
//! Why not `slice::sort_by`: every element type and closure gets its own copy of the standard
//! library's driftsort, ~5 KB of wasm each, and the worker has a size budget. Here the ordering
//! work is one non-generic heapsort over `(key, original index)` pairs (the index makes equal
//! keys keep their order, so the sort is stable); only the short gather step is generic.
//! O(n log n) in the worst case, no recursion.

/// Sorts `v` by `key(element)` (byte-wise `str` order), keeping equal keys in their order.
pub fn sort_by_str<T>(v: &mut Vec<T>, key: impl Fn(&T) -> &str) {
    if v.len() < 2 {
        return;
    }
    let order: Vec<usize> = {
        let mut pairs: Vec<(&str, usize)> =
            v.iter().enumerate().map(|(i, x)| (key(x), i)).collect();
        heapsort(&mut pairs);
        pairs.into_iter().map(|(_, i)| i).collect()
    };
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    // `order` is a permutation of 0..len, so every slot is taken exactly once.
    v.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// Sorts and removes duplicates from a list of strings.
pub fn sort_dedup(v: &mut Vec<String>) {
    sort_by_str(v, String::as_str);
    v.dedup();
}

fn heapsort(a: &mut [(&str, usize)]) {
    let n = a.len();
    for start in (0..n / 2).rev() {
        sift_down(a, start, n);
    }
    for end in (1..n).rev() {
        a.swap(0, end);
        sift_down(a, 0, end);
    }
}

fn sift_down(a: &mut [(&str, usize)], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        // Both indices are below `end <= a.len()`: `get` is always `Some` here.
        if child + 1 < end && a.get(child) < a.get(child + 1) {
            child += 1;
        }
        if a.get(root) >= a.get(child) {
            return;
        }
        a.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        let mut v = vec![("b", 1), ("a", 2), ("b", 0), ("", 3), ("a", 4)];
        sort_by_str(&mut v, |x| x.0);
        assert_eq!(v, [("", 3), ("a", 2), ("a", 4), ("b", 1), ("b", 0)]);
        let mut s = vec!["z".to_string(), "é".into(), "a".into(), "z".into()];
        sort_dedup(&mut s);
        assert_eq!(s, ["a", "z", "é"]);
        let mut empty: Vec<String> = Vec::new();
        sort_dedup(&mut empty);
        assert!(empty.is_empty());
    }

    proptest! {
        #[test]
        fn same_as_the_standard_stable_sort(v in prop::collection::vec(("[a-c]{0,3}", any::<u8>()), 0..60)) {
            let mut ours = v.clone();
            sort_by_str(&mut ours, |x| x.0.as_str());
            let mut std_sorted = v;
            std_sorted.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(ours, std_sorted);
        }
    }
}
