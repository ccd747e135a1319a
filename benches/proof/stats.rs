//! The proof's design and statistics: the order of the configurations in a round, medians, and whether one configuration's rounds differ from
//! another's by more than the run's own noise (an exact two-sided Mann–Whitney test).
//!
//! Included by `benches/proof.rs` and by `tests/proof_stats.rs` (`#[path]`), so the verdicts the
//! report prints are tested like the rest of the project.

/// Below this two-sided p-value a difference between two configurations' rounds is reported as
/// real (ahead or behind); at or above it the two are level within the run's noise.
pub const SIGNIFICANCE: f64 = 0.05;

/// How aza-pg's rounds compare with another configuration's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Better in a way the rounds show (p < [`SIGNIFICANCE`]).
    Ahead,
    /// No difference the rounds can tell from noise.
    Level,
    /// Worse in a way the rounds show.
    Behind,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Ahead => "ahead",
            Verdict::Level => "level",
            Verdict::Behind => "behind",
        }
    }
}

/// The median (the mean of the middle two for an even count); 0 for no values. Sorts `values`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Mann–Whitney's U of `a` against `b`: the pairs in which `a`'s value is larger, ties counted half.
/// `u / (a.len() * b.len())` is the chance that a round of `a` beats a round of `b`.
pub fn u_statistic(a: &[f64], b: &[f64]) -> f64 {
    let mut u = 0.0;
    for x in a {
        for y in b {
            if x > y {
                u += 1.0;
            } else if x == y {
                u += 0.5;
            }
        }
    }
    u
}

/// How many of the `C(n+m, n)` orderings of `n` and `m` values give each U, `0..=n*m` (the exact
/// distribution under "no difference", without ties). Recurrence on the largest value: it belongs
/// to the first sample (adding `m` to U) or to the second.
fn u_counts(n: usize, m: usize) -> Vec<f64> {
    // counts[j][u] for the first i values of the first sample and j of the second, row by row in i.
    let width = n * m + 1;
    let mut previous: Vec<Vec<f64>> = (0..=m)
        .map(|_| {
            let mut row = vec![0.0; width];
            row[0] = 1.0;
            row
        })
        .collect();
    for _ in 1..=n {
        let mut current: Vec<Vec<f64>> = vec![vec![0.0; width]; m + 1];
        for j in 0..=m {
            for u in 0..width {
                let first_largest = if u >= j { previous[j][u - j] } else { 0.0 };
                let second_largest = if j > 0 { current[j - 1][u] } else { 0.0 };
                current[j][u] = first_largest + second_largest;
            }
        }
        previous = current;
    }
    previous.swap_remove(m)
}

/// The exact two-sided p-value of Mann–Whitney's test between `a` and `b` (1 when either is empty).
/// With ties (U not a whole number) each tail is taken at the whole number on its far side, so the
/// value errs towards "level".
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let u = u_statistic(a, b);
    let counts = u_counts(a.len(), b.len());
    let total: f64 = counts.iter().sum();
    let at_most = |limit: usize| counts.iter().take(limit + 1).sum::<f64>() / total;
    let at_least = |limit: usize| counts.iter().skip(limit).sum::<f64>() / total;
    let lower = at_most(u.ceil() as usize);
    let upper = at_least(u.floor() as usize);
    (2.0 * lower.min(upper)).min(1.0)
}

/// Whether `ours` is ahead of, level with or behind `other`, where larger values are better when
/// `higher_is_better` (throughput) and smaller ones otherwise (temp bytes).
pub fn verdict(ours: &[f64], other: &[f64], higher_is_better: bool) -> Verdict {
    if mann_whitney_p(ours, other) >= SIGNIFICANCE {
        return Verdict::Level;
    }
    let ours_larger = 2.0 * u_statistic(ours, other) > (ours.len() * other.len()) as f64;
    if ours_larger == higher_is_better {
        Verdict::Ahead
    } else {
        Verdict::Behind
    }
}

/// The order in which `n` configurations run in round `round`: a Williams design, a Latin square in
/// which, over its `n` rounds (`2n` for an odd `n`), every configuration runs in every position once
/// and directly after every other configuration equally often. A plain rotation keeps the same
/// neighbours every round, so whatever one configuration leaves behind on the shared data directory
/// (WAL segments kept for recycling, dirty pages, page cache) always lands on the same next one.
pub fn williams_order(n: usize, round: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    // The first row: 0, 1, n-1, 2, n-2, 3, ...
    let mut first = vec![0];
    let (mut low, mut high) = (1, n);
    for j in 1..n {
        if j % 2 == 1 {
            first.push(low);
            low += 1;
        } else {
            high -= 1;
            first.push(high);
        }
    }
    let rows = if n % 2 == 0 { n } else { 2 * n };
    let row = round % rows;
    let mut order: Vec<usize> = first.iter().map(|c| (c + row) % n).collect();
    if row >= n {
        order = first.iter().rev().map(|c| (c + row) % n).collect();
    }
    order
}
