//! Percentiles of a sample, nearest-rank. Pure.

/// p50/p90/p99/max and the mean of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Percentiles of `sample_us` (microseconds), reported in milliseconds.
pub fn percentiles(sample_us: &[i64]) -> Percentiles {
    if sample_us.is_empty() {
        return Percentiles::default();
    }
    let mut v = sample_us.to_vec();
    v.sort_unstable();
    let rank = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    };
    Percentiles {
        count: v.len(),
        p50_ms: rank(0.50),
        p90_ms: rank(0.90),
        p99_ms: rank(0.99),
        max_ms: v[v.len() - 1] as f64 / 1000.0,
        mean_ms: v.iter().sum::<i64>() as f64 / v.len() as f64 / 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let sample: Vec<i64> = (1..=100).map(|ms| ms * 1000).collect();
        let p = percentiles(&sample);
        assert_eq!(
            (p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms),
            (50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(p.count, 100);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(percentiles(&[]).count, 0);
    }
}
