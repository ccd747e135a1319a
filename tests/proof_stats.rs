//! The proof report's statistics (`benches/proof/stats.rs`): the medians and the verdicts that say
//! whether aza-pg is ahead of, level with or behind another configuration.

#[path = "../benches/proof/stats.rs"]
mod stats;

use stats::{mann_whitney_p, median, u_statistic, verdict, Verdict};

#[test]
fn median_of_odd_and_even_counts() {
    assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    assert_eq!(median(&mut []), 0.0);
}

#[test]
fn u_counts_pairs_won_and_half_the_ties() {
    assert_eq!(u_statistic(&[2.0, 4.0], &[1.0, 3.0]), 3.0);
    assert_eq!(u_statistic(&[1.0], &[1.0]), 0.5);
}

#[test]
fn exact_p_values_of_five_rounds_against_five() {
    // C(10, 5) = 252 orderings; U = 25 is one of them, U >= 23 four, U >= 22 seven.
    let ours = [10.0, 11.0, 12.0, 13.0, 14.0];
    let p = mann_whitney_p(&ours, &[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
    let p = mann_whitney_p(&ours, &[1.0, 2.0, 3.0, 4.0, 11.5]); // U = 20 + 3
    assert!((p - 8.0 / 252.0).abs() < 1e-12, "{p}");
    let p = mann_whitney_p(&ours, &[11.5, 2.0, 4.0, 1.0, 3.0]); // the same U, another order
    assert!((p - 8.0 / 252.0).abs() < 1e-12, "{p}");
    let p = mann_whitney_p(&ours, &[1.0, 2.0, 3.0, 4.0, 12.5]); // U = 20 + 2
    assert!((p - 14.0 / 252.0).abs() < 1e-12, "{p}");
    // Symmetric: the same p whichever side is larger.
    assert_eq!(
        mann_whitney_p(&ours, &[1.0, 2.0, 3.0, 4.0, 5.0]),
        mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &ours)
    );
    // Interleaved rounds are as level as it gets.
    assert_eq!(mann_whitney_p(&[1.0, 4.0], &[2.0, 3.0]), 1.0);
    assert_eq!(mann_whitney_p(&[], &[1.0]), 1.0);
}

#[test]
fn ties_err_towards_level() {
    // U = 22.5: each tail is taken at the whole number beyond it, so p is that of U = 22.
    let p = mann_whitney_p(&[10.0, 11.0, 12.0, 13.0, 14.0], &[1.0, 2.0, 3.0, 4.0, 12.0]); // 20 + 2 + a tie
    assert!((p - 14.0 / 252.0).abs() < 1e-12, "{p}");
}

#[test]
fn verdicts_follow_the_direction_of_better() {
    let high = [10.0, 11.0, 12.0, 13.0, 14.0];
    let low = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(verdict(&high, &low, true), Verdict::Ahead);
    assert_eq!(verdict(&low, &high, true), Verdict::Behind);
    // Temp bytes: fewer is better.
    assert_eq!(verdict(&low, &high, false), Verdict::Ahead);
    assert_eq!(verdict(&high, &low, false), Verdict::Behind);
    // Interleaved rounds: level, whichever median is larger.
    assert_eq!(
        verdict(
            &[29.0, 31.0, 33.0, 35.0, 37.0],
            &[30.0, 32.0, 34.0, 36.0, 38.0],
            true
        ),
        Verdict::Level
    );
    assert_eq!(Verdict::Level.word(), "level");
}

/// Every configuration once per round, every position once per configuration over a square, and
/// every ordered pair of neighbours equally often.
fn check_williams(n: usize) {
    use stats::williams_order;
    let rows = if n % 2 == 0 { n } else { 2 * n };
    let mut positions = vec![vec![0; n]; n];
    let mut follows = vec![vec![0; n]; n];
    for round in 0..rows {
        let order = williams_order(n, round);
        let mut seen = order.clone();
        seen.sort();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "round {round}: {order:?}");
        for (position, &c) in order.iter().enumerate() {
            positions[c][position] += 1;
        }
        for pair in order.windows(2) {
            follows[pair[0]][pair[1]] += 1;
        }
    }
    let per_position = rows / n;
    assert!(
        positions.iter().flatten().all(|&k| k == per_position),
        "{positions:?}"
    );
    let per_pair = rows / n;
    for (a, row) in follows.iter().enumerate() {
        for (b, &k) in row.iter().enumerate() {
            assert_eq!(
                k,
                if a == b { 0 } else { per_pair },
                "{a} then {b}: {follows:?}"
            );
        }
    }
    assert_eq!(williams_order(n, rows), williams_order(n, 0));
}

#[test]
fn williams_orders_balance_positions_and_neighbours() {
    for n in 1..=8 {
        check_williams(n);
    }
    assert_eq!(stats::williams_order(4, 0), vec![0, 1, 3, 2]);
    assert!(stats::williams_order(0, 3).is_empty());
}
