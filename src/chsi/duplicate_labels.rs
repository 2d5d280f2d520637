//! A report page that states one label twice with different values (姓名
//! twice, say) cannot be trusted: no value wins over the other, the page is
//! `report_inconsistent` and goes to a person. Pure: the page parser hands
//! over the (label, value) pairs it found, in page order.

/// One label the page gives conflicting values for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub label: String,
    /// Every distinct value, in page order.
    pub values: Vec<String>,
}

/// The labels whose values disagree. Labels and values are compared with
/// whitespace removed (the page's layout puts spaces in both); a label
/// repeated with the same value is no conflict.
pub fn conflicting_labels<'a, I>(pairs: I) -> Vec<Conflict>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let mut seen: Vec<Conflict> = Vec::new();
    for (label, value) in pairs {
        let (label, value) = (squash(label), squash(value));
        match seen.iter_mut().find(|c| c.label == label) {
            Some(c) => {
                if !c.values.contains(&value) {
                    c.values.push(value);
                }
            }
            None => seen.push(Conflict {
                label,
                values: vec![value],
            }),
        }
    }
    seen.retain(|c| c.values.len() > 1);
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_twice_with_different_values_conflicts() {
        let found = conflicting_labels([
            ("姓名", "张三"),
            ("性别", "男"),
            ("姓 名", "李四"),
            ("性别", " 男 "),
        ]);
        assert_eq!(
            found,
            vec![Conflict {
                label: "姓名".into(),
                values: vec!["张三".into(), "李四".into()],
            }]
        );
    }

    #[test]
    fn repeats_with_the_same_value_and_distinct_labels_do_not() {
        assert!(
            conflicting_labels([("姓名", "张三"), ("姓名", "张 三"), ("学校", "某大学")])
                .is_empty()
        );
        assert!(conflicting_labels(std::iter::empty()).is_empty());
    }
}
