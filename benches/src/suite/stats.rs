//! The statistics the comparison reports: median, min–max, ratios to the
//! native process, and the interleaved order in which subjects run.

/// Median, minimum and maximum of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// The median of `samples` (the mean of the two middle ones for an even
/// count); `None` for no samples. NaNs sort last and should not be passed.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let mid = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[mid]
    } else {
        (s[mid - 1] + s[mid]) / 2.0
    })
}

/// Median and range of `samples`; `None` for no samples.
pub fn spread(samples: &[f64]) -> Option<Spread> {
    let median = median(samples)?;
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(Spread {
        median,
        min,
        max,
        n: samples.len(),
    })
}

/// `value / baseline`, or `None` when the baseline is not a positive number
/// (a ratio to zero or to a failed measurement means nothing).
pub fn ratio(value: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0 && baseline.is_finite() && value.is_finite()).then(|| value / baseline)
}

/// The order of subject indices in round `round` of `n` subjects: A B C,
/// then B C A, then C A B, … Every subject runs once per round, and each
/// takes every position equally often, so slow drift of a shared machine
/// and any "runs right after X" effect fall on all subjects alike.
pub fn round_order(n: usize, round: usize) -> Vec<usize> {
    (0..n).map(|k| (round + k) % n).collect()
}

/// Pairwise difference `a[i] - b[i]` of two sample series measured in the
/// same rounds (used to take a wrapper's own cost out of a peer's time).
pub fn paired_difference(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn median_is_robust_to_one_outlier() {
        assert_eq!(median(&[1.0, 1.1, 0.9, 1000.0, 1.0]), Some(1.0));
    }

    #[test]
    fn spread_has_min_and_max() {
        let s = spread(&[5.0, 1.0, 9.0, 2.0]).expect("samples");
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 9.0);
        assert_eq!(s.median, 3.5);
        assert_eq!(s.n, 4);
        assert!(spread(&[]).is_none());
    }

    #[test]
    fn ratios_need_a_positive_baseline() {
        assert_eq!(ratio(6.0, 2.0), Some(3.0));
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(ratio(1.0, -1.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
    }

    #[test]
    fn rounds_rotate_and_cover_every_subject() {
        assert_eq!(round_order(3, 0), vec![0, 1, 2]);
        assert_eq!(round_order(3, 1), vec![1, 2, 0]);
        assert_eq!(round_order(3, 2), vec![2, 0, 1]);
        assert_eq!(round_order(3, 3), vec![0, 1, 2]);
        // Over n rounds, every subject sits in every position exactly once.
        let n = 4;
        for pos in 0..n {
            let mut seen: Vec<usize> = (0..n).map(|r| round_order(n, r)[pos]).collect();
            seen.sort();
            assert_eq!(seen, vec![0, 1, 2, 3]);
        }
        assert!(round_order(0, 5).is_empty());
    }

    #[test]
    fn paired_difference_is_elementwise() {
        assert_eq!(
            paired_difference(&[10.0, 12.0, 9.0], &[4.0, 5.0, 4.0]),
            vec![6.0, 7.0, 5.0]
        );
    }
}
