//! Small-cell suppression for reports that leave the analyst's hands
//! (SPEC §5): a count from 1 to `min_cell - 1` prints as `<min_cell`, and a
//! percentage whose numerator or denominator is such a count is hidden.

/// Suppression rule of a run (`min_cell = 0` disables it).
#[derive(Clone, Copy, Debug)]
pub struct Suppress {
    pub min_cell: u32,
}

impl Suppress {
    /// Whether a count is a small cell.
    pub fn small(&self, n: u32) -> bool {
        self.min_cell > 0 && n >= 1 && n < self.min_cell
    }
    /// A count as printed.
    pub fn count(&self, n: u32) -> String {
        if self.small(n) {
            format!("<{}", self.min_cell)
        } else {
            n.to_string()
        }
    }
    /// A count for a chart: `None` (left out) when small.
    pub fn count_value(&self, n: u32) -> Option<f64> {
        (!self.small(n)).then_some(n as f64)
    }
    /// The unrounded percentage when it may be shown.
    pub fn pct(&self, n: u32, d: u32) -> Option<f64> {
        if d == 0 || self.small(n) || self.small(d) {
            None
        } else {
            Some(100.0 * n as f64 / d as f64)
        }
    }
}

impl Suppress {
    /// Complementary suppression (SPEC §6.6) of the counts printed for one
    /// clinic and month: a count is hidden when it is small, or when one of
    /// `pairs` (two printed counts one subtraction apart: numerator and
    /// denominator, nested counts) differs by a small count; then the smaller
    /// of the two is hidden, until no printed pair derives a small count.
    /// Returns a hidden flag per count.
    pub fn complementary(&self, counts: &[u32], pairs: &[(usize, usize)]) -> Vec<bool> {
        let mut hidden: Vec<bool> = counts.iter().map(|&n| self.small(n)).collect();
        loop {
            let mut changed = false;
            for &(a, b) in pairs {
                if hidden[a] || hidden[b] || !self.small(counts[a].abs_diff(counts[b])) {
                    continue;
                }
                let smaller = if counts[a] <= counts[b] { a } else { b };
                hidden[smaller] = true;
                changed = true;
            }
            if !changed {
                return hidden;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_one_subtraction_from_a_small_count_is_hidden() {
        let s = Suppress { min_cell: 11 };
        // 20 of 23 urine drug tests: 3 without; hide the 20.
        assert_eq!(s.complementary(&[23, 20], &[(1, 0)]), vec![false, true]);
        // LTOT 23, ≥ 50: 20, ≥ 90: 13: 23 − 20 = 3 hides the 20; 23 − 13 = 10 hides the 13.
        assert_eq!(s.complementary(&[23, 20, 13], &[(1, 0), (2, 0), (1, 2)]), vec![false, true, true]);
        // 30 of 45: 15 apart, nothing hidden; a primary small count stays hidden alone.
        assert_eq!(s.complementary(&[45, 30, 5], &[(1, 0), (2, 0)]), vec![false, false, true]);
        // Equal counts differ by 0: nothing derived.
        assert_eq!(s.complementary(&[20, 20], &[(1, 0)]), vec![false, false]);
        assert_eq!(Suppress { min_cell: 0 }.complementary(&[23, 20], &[(1, 0)]), vec![false, false]);
    }

    #[test]
    fn counts_one_to_ten_are_suppressed() {
        let s = Suppress { min_cell: 11 };
        assert_eq!(s.count(0), "0");
        assert_eq!(s.count(1), "<11");
        assert_eq!(s.count(10), "<11");
        assert_eq!(s.count(11), "11");
        assert_eq!(s.pct(5, 40), None);
        assert_eq!(s.pct(11, 40), Some(27.5));
        assert_eq!(s.pct(0, 40), Some(0.0));
        assert_eq!(s.pct(0, 10), None);
        assert_eq!(Suppress { min_cell: 0 }.count(3), "3");
    }
}
