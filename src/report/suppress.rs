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

#[cfg(test)]
mod tests {
    use super::*;

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
