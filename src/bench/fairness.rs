//! How evenly a load's operations were spread over its connections: the fewest, the median
//! and the most one connection completed, and Jain's fairness index over all of them.
//!
//! A server can be fast on average and still starve clients: a pool of 8 threads under 1,000
//! keep-alive clients serves 8 of them and leaves the rest in the backlog. The rate and the
//! latency of the operations that completed cannot show that; the count per connection can.

/// The spread of completed operations over the connections of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fairness {
    /// The connections counted, the starved ones included.
    pub conns: usize,
    pub min: u64,
    /// The lower median: a count one connection really had.
    pub median: u64,
    pub max: u64,
    /// Connections that completed no operation at all.
    pub starved: usize,
    /// Jain's index, 1/n (one connection got everything) to 1 (all even); `None` when no
    /// connection completed an operation, where evenness means nothing.
    pub jain: Option<f64>,
}

impl Fairness {
    /// The spread of `per_conn` (each connection's completed operations, 0 for a starved
    /// one); `None` for no connections.
    pub fn of(per_conn: &[u64]) -> Option<Fairness> {
        let mut sorted = per_conn.to_vec();
        sorted.sort_unstable();
        Some(Fairness {
            conns: sorted.len(),
            min: *sorted.first()?,
            median: sorted[(sorted.len() - 1) / 2],
            max: *sorted.last()?,
            starved: sorted.iter().take_while(|&&x| x == 0).count(),
            jain: jain(&sorted),
        })
    }
}

/// Jain's fairness index, (Σx)² / (n·Σx²): 1 when every connection did as much, k/n when k
/// connections shared everything evenly and the others got nothing. `None` for no connections
/// or no operations at all (0/0). Summed as floats: squares of counts would overflow integers,
/// and an index needs no more than a float's precision.
pub fn jain(xs: &[u64]) -> Option<f64> {
    let sum: f64 = xs.iter().map(|&x| x as f64).sum();
    let squares: f64 = xs.iter().map(|&x| x as f64 * x as f64).sum();
    if squares == 0.0 {
        return None;
    }
    Some(sum * sum / (xs.len() as f64 * squares))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_on_known_spreads() {
        let close = |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() < 1e-12);
        let cases: &[(&[u64], Option<f64>)] = &[
            (&[5, 5, 5, 5], Some(1.0)),
            (&[1], Some(1.0)),
            (&[u64::MAX, u64::MAX], Some(1.0)),
            (&[100, 0, 0, 0], Some(0.25)),
            (&[7, 0, 0, 0, 0, 0, 0, 0, 0, 0], Some(0.1)),
            (&[3, 3, 0, 0], Some(0.5)),
            (&[1, 3], Some(16.0 / 20.0)),
            (&[], None),
            (&[0, 0, 0], None),
        ];
        for &(xs, want) in cases {
            match want {
                Some(w) => assert!(close(jain(xs), w), "{xs:?}: {:?}, not {w}", jain(xs)),
                None => assert_eq!(jain(xs), None, "{xs:?}"),
            }
        }
    }

    #[test]
    fn the_spread_counts_the_starved() {
        assert_eq!(Fairness::of(&[]), None);
        let f = Fairness::of(&[9, 0, 4, 0, 7]).unwrap();
        assert_eq!(
            (f.conns, f.min, f.median, f.max, f.starved),
            (5, 0, 4, 9, 2)
        );
        // The lower median of an even count.
        assert_eq!(Fairness::of(&[1, 2, 3, 4]).unwrap().median, 2);
        let none = Fairness::of(&[0, 0]).unwrap();
        assert_eq!((none.starved, none.jain), (2, None));
    }
}
