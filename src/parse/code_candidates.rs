//! Ranked guesses at an 在线验证码 whose reads did not agree. S/5, B/8, Z/2,
//! O/0 and I/1 are all legal in a code, so no rule can pick between two
//! reads that differ there; the service can, and the holder check on its
//! answer says which guess was right. This module only ranks: which guesses
//! are worth one of the few lookups a record may spend. Pure.

use super::values;
use crate::domain::Field;

/// Guesses kept with a reading: more than are ever tried, so an admin sees
/// what else the image might say.
pub const MAX_CANDIDATES: usize = 5;

/// One read of the code line: by which reader, and the code it gave (exact
/// or one stray character away, with a lower weight).
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub reader: u8,
    pub code: String,
    pub weight: f64,
}

/// Characters OCR takes for one another in codes, both ways. O and I are
/// not in the code alphabet: the value repair already reads them as 0 and 1.
const CONFUSABLE: [(char, char); 7] = [
    ('S', '5'),
    ('B', '8'),
    ('Z', '2'),
    ('D', '0'),
    ('Q', '0'),
    ('G', '6'),
    ('T', '7'),
];

fn partners(c: char) -> impl Iterator<Item = char> {
    CONFUSABLE.iter().filter_map(move |(a, b)| {
        if *a == c {
            Some(*b)
        } else if *b == c {
            Some(*a)
        } else {
            None
        }
    })
}

/// Weight given to a confusable partner of a character some read gave, at a
/// position where the reads disagree: a guess, below any read.
const PARTNER_WEIGHT: f64 = 0.3;
/// Weight of a partner where every read agreed but only one reader read it
/// (the others gave nothing usable): the last guesses tried.
const LONE_PARTNER_WEIGHT: f64 = 0.1;

/// The codes worth trying, best first: the per-position consensus of the
/// reads, then every other combination of the characters the reads gave
/// where they disagree (and their confusable partners), ranked by how much
/// of the reads' weight backs each character. Only well-formed codes.
pub fn rank(votes: &[Vote]) -> Vec<String> {
    let valid = |s: &str| values::repair(Field::vcode, s).filter(|v| v == s);
    // Reads of a 16-character code and of an old 12-digit one cannot be
    // aligned; the length most of the weight reads is the code's.
    let mut by_len: Vec<(usize, f64)> = Vec::new();
    for v in votes {
        let n = v.code.chars().count();
        match by_len.iter_mut().find(|(l, _)| *l == n) {
            Some((_, w)) => *w += v.weight,
            None => by_len.push((n, v.weight)),
        }
    }
    by_len.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    let Some(&(len, _)) = by_len.first() else {
        return Vec::new();
    };
    let aligned: Vec<(&Vote, Vec<char>)> = votes
        .iter()
        .map(|v| (v, v.code.chars().collect::<Vec<char>>()))
        .filter(|(_, c)| c.len() == len)
        .collect();
    let readers = {
        let mut r: Vec<u8> = aligned.iter().map(|(v, _)| v.reader).collect();
        r.sort();
        r.dedup();
        r.len()
    };

    // Per position: each character and the weight backing it.
    let mut columns: Vec<Vec<(char, f64)>> = vec![Vec::new(); len];
    for (v, chars) in &aligned {
        for (p, c) in chars.iter().enumerate() {
            add(&mut columns[p], *c, v.weight);
        }
    }
    for col in &mut columns {
        let disagree = col.len() > 1;
        let weight = if disagree {
            PARTNER_WEIGHT
        } else if readers < 2 {
            LONE_PARTNER_WEIGHT
        } else {
            continue;
        };
        let seen: Vec<(char, f64)> = col.clone();
        for (c, w) in seen {
            for p in partners(c) {
                if !col.iter().any(|(x, _)| *x == p) {
                    col.push((p, w * weight));
                }
            }
        }
    }
    for col in &mut columns {
        let total: f64 = col.iter().map(|(_, w)| w).sum();
        for (_, w) in col.iter_mut() {
            *w /= total;
        }
        col.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }

    // Beam search over positions: the product of each character's share.
    let beam_width = MAX_CANDIDATES * 8;
    let mut beam: Vec<(String, f64)> = vec![(String::new(), 1.0)];
    for col in &columns {
        let mut next: Vec<(String, f64)> = Vec::with_capacity(beam.len() * col.len());
        for (prefix, score) in &beam {
            for (c, share) in col {
                let mut s = prefix.clone();
                s.push(*c);
                next.push((s, score * share));
            }
        }
        next.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        next.truncate(beam_width);
        beam = next;
    }
    let mut out: Vec<String> = Vec::new();
    for (code, _) in beam {
        if let Some(v) = valid(&code)
            && !out.contains(&v)
        {
            out.push(v);
        }
        if out.len() == MAX_CANDIDATES {
            break;
        }
    }
    out
}

fn add(col: &mut Vec<(char, f64)>, c: char, w: f64) {
    match col.iter_mut().find(|(x, _)| *x == c) {
        Some((_, t)) => *t += w,
        None => col.push((c, w)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(reader: u8, code: &str) -> Vote {
        Vote {
            reader,
            code: code.into(),
            weight: 1.0,
        }
    }

    #[test]
    fn disagreeing_reads_give_both_readings_and_their_mix() {
        // The page read says S, both line reads say 5 at one place; one line
        // read says 8 where the others say B.
        let votes = [
            vote(0, "AS2K8BQX4TB8R5WZ"),
            vote(1, "A52K8BQX4TB8R5WZ"),
            vote(2, "A52K88QX4TB8R5WZ"),
        ];
        let ranked = rank(&votes);
        assert_eq!(ranked[0], "A52K8BQX4TB8R5WZ", "{ranked:?}");
        assert!(
            ranked.contains(&"AS2K8BQX4TB8R5WZ".to_string()),
            "{ranked:?}"
        );
        assert!(
            ranked.contains(&"A52K88QX4TB8R5WZ".to_string()),
            "{ranked:?}"
        );
        assert!(ranked.len() <= MAX_CANDIDATES);
    }

    #[test]
    fn a_lone_read_is_tried_first_then_its_confusable_swaps() {
        let ranked = rank(&[vote(0, "A7K2M9QX4TB8R5WZ")]);
        assert_eq!(ranked[0], "A7K2M9QX4TB8R5WZ");
        assert!(ranked.len() > 1);
        for alt in &ranked[1..] {
            let diff = alt
                .chars()
                .zip("A7K2M9QX4TB8R5WZ".chars())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(diff, 1, "{alt}");
        }
    }

    #[test]
    fn old_twelve_digit_codes_stay_digits() {
        let ranked = rank(&[vote(0, "436422305570"), vote(3, "436422805570")]);
        assert_eq!(ranked.len(), 2, "{ranked:?}");
        assert!(ranked.iter().all(|c| c.chars().all(|d| d.is_ascii_digit())));
    }

    #[test]
    fn nothing_read_gives_nothing_to_try() {
        assert!(rank(&[]).is_empty());
    }

    #[test]
    fn the_length_most_reads_agree_on_wins() {
        let ranked = rank(&[
            vote(0, "A7K2M9QX4TB8R5WZ"),
            vote(1, "A7K2M9QX4TB8R5WZ"),
            vote(2, "436422305570"),
        ]);
        assert_eq!(ranked[0], "A7K2M9QX4TB8R5WZ");
        assert!(ranked.iter().all(|c| c.len() == 16));
    }
}
