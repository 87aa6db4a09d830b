//! Day intervals: coverage as unions and intersections of closed
//! `[start, end]` day ranges, never one row per patient-day.

use crate::dates::Day;

/// A closed interval of days.
pub type Span = (Day, Day);

/// Union of spans: sorted, disjoint, adjacent spans joined.
pub fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 + 1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Days of `[a, b]` covered by a merged span list.
pub fn covered(merged: &[Span], a: Day, b: Day) -> u32 {
    if a > b {
        return 0;
    }
    let first = merged.partition_point(|&(_, e)| e < a);
    let mut n = 0;
    for &(s, e) in &merged[first..] {
        if s > b {
            break;
        }
        n += (e.min(b) - s.max(a) + 1) as u32;
    }
    n
}

/// Days of `[a, b]` covered by both merged span lists.
pub fn covered_by_both(x: &[Span], y: &[Span], a: Day, b: Day) -> u32 {
    let mut i = x.partition_point(|&(_, e)| e < a);
    let mut j = y.partition_point(|&(_, e)| e < a);
    let mut n = 0;
    while i < x.len() && j < y.len() {
        let (s1, e1) = x[i];
        let (s2, e2) = y[j];
        if s1 > b || s2 > b {
            break;
        }
        let s = s1.max(s2).max(a);
        let e = e1.min(e2).min(b);
        if s <= e {
            n += (e - s + 1) as u32;
        }
        if e1 < e2 {
            i += 1;
        } else {
            j += 1;
        }
    }
    n
}

/// Days two closed spans share.
pub fn overlap(x: Span, y: Span) -> u32 {
    let s = x.0.max(y.0);
    let e = x.1.min(y.1);
    if s <= e {
        (e - s + 1) as u32
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_joins_overlapping_and_adjacent() {
        assert_eq!(merge(vec![(10, 20), (1, 5), (6, 8), (15, 30), (40, 40)]), vec![(1, 8), (10, 30), (40, 40)]);
    }

    #[test]
    fn covered_counts_distinct_days() {
        let m = merge(vec![(1, 10), (5, 15)]);
        assert_eq!(covered(&m, 1, 31), 15); // a day covered twice counts once
        assert_eq!(covered(&m, 10, 12), 3);
        assert_eq!(covered(&m, 16, 20), 0);
        assert_eq!(covered(&m, 5, 4), 0);
    }

    #[test]
    fn intersection_of_two_lists() {
        let a = merge(vec![(1, 10), (20, 30)]);
        let b = merge(vec![(10, 21), (30, 35)]);
        assert_eq!(covered_by_both(&a, &b, 1, 40), 1 + 2 + 1);
        assert_eq!(covered_by_both(&a, &b, 11, 29), 2);
        assert_eq!(covered_by_both(&a, &b, 31, 40), 0);
    }

    #[test]
    fn overlap_of_spans() {
        assert_eq!(overlap((1, 10), (10, 20)), 1);
        assert_eq!(overlap((1, 10), (11, 20)), 0);
    }
}
