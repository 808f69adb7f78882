//! GFS retention keeps exactly the expected snapshots (property test against an independent
//! reference: group by period, keep the newest of the most recent N periods).

use std::collections::{BTreeMap, BTreeSet};

use lightrag_backup::{RetentionPolicy, apply_policy};
use proptest::prelude::*;
use time::OffsetDateTime;

fn reference(
    snaps: &[(String, OffsetDateTime)],
    p: &RetentionPolicy,
    pinned: &BTreeSet<String>,
    now: OffsetDateTime,
) -> BTreeSet<String> {
    let mut newest_first = snaps.to_vec();
    newest_first.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut keep: BTreeSet<String> = newest_first
        .iter()
        .take(p.keep_last as usize)
        .map(|s| s.0.clone())
        .collect();
    type PeriodKey = fn(OffsetDateTime) -> String;
    let periods: [(u32, PeriodKey); 4] = [
        (p.keep_hourly, |t| {
            format!("{}-{:03}-{:02}", t.year(), t.ordinal(), t.hour())
        }),
        (p.keep_daily, |t| format!("{}-{:03}", t.year(), t.ordinal())),
        (p.keep_weekly, |t| {
            let (y, w, _) = t.to_iso_week_date();
            format!("{y}-W{w:02}")
        }),
        (p.keep_monthly, |t| {
            format!("{}-{:02}", t.year(), u8::from(t.month()))
        }),
    ];
    for (n, key) in periods {
        // period -> newest snapshot in it
        let mut groups: BTreeMap<String, (OffsetDateTime, String)> = BTreeMap::new();
        for (id, t) in snaps {
            let g = groups.entry(key(*t)).or_insert((*t, id.clone()));
            if (*t, id) > (g.0, &g.1) {
                *g = (*t, id.clone());
            }
        }
        let mut newest: Vec<_> = groups.into_values().collect();
        newest.sort_by(|a, b| b.cmp(a));
        keep.extend(newest.into_iter().take(n as usize).map(|(_, id)| id));
    }
    if let Some(d) = p.keep_within {
        let limit = now - time::Duration::seconds(d.as_secs() as i64);
        keep.extend(snaps.iter().filter(|s| s.1 > limit).map(|s| s.0.clone()));
    }
    keep.extend(
        snaps
            .iter()
            .filter(|s| pinned.contains(&s.0))
            .map(|s| s.0.clone()),
    );
    keep
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn gfs_keeps_exactly_the_expected_snapshots(
        offsets in prop::collection::vec(0i64..(400 * 86_400), 0..60),
        last in 0u32..4, hourly in 0u32..6, daily in 0u32..8, weekly in 0u32..5, monthly in 0u32..4,
        within in prop::option::of(prop_oneof![0u64..30, 0u64..(30 * 86_400)]),
        pin_mask in any::<u64>(),
    ) {
        let base = OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap(); // 2025-01-01
        let snaps: Vec<(String, OffsetDateTime)> = offsets.iter().enumerate()
            .map(|(i, o)| (format!("s{i:03}"), base + time::Duration::seconds(*o)))
            .collect();
        let pinned: BTreeSet<String> = snaps.iter().enumerate()
            .filter(|(i, _)| pin_mask >> (i % 64) & 1 == 1 && i % 3 == 0)
            .map(|(_, s)| s.0.clone()).collect();
        let policy = RetentionPolicy { keep_last: last, keep_hourly: hourly, keep_daily: daily,
            keep_weekly: weekly, keep_monthly: monthly,
            keep_within: within.map(std::time::Duration::from_secs) };
        let now = base + time::Duration::days(400);
        let got: BTreeSet<String> = apply_policy(&snaps, &policy, &pinned, now).into_keys().collect();
        prop_assert_eq!(&got, &reference(&snaps, &policy, &pinned, now));
        // pinned always kept; the newest is kept whenever any period/last rule is on
        prop_assert!(pinned.is_subset(&got));
        if !snaps.is_empty() && (last + hourly + daily + weekly + monthly) > 0 {
            let newest = snaps.iter().max_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0))).unwrap();
            prop_assert!(got.contains(&newest.0));
        }
    }
}

#[test]
fn daily_keeps_newest_of_each_day() {
    let t = |d: i64, h: i64| {
        OffsetDateTime::from_unix_timestamp(1_735_689_600 + d * 86_400 + h * 3600).unwrap()
    };
    let snaps = vec![
        ("a".to_owned(), t(0, 1)),
        ("b".to_owned(), t(0, 5)),
        ("c".to_owned(), t(1, 2)),
        ("d".to_owned(), t(2, 2)),
        ("e".to_owned(), t(2, 9)),
    ];
    let p = RetentionPolicy {
        keep_daily: 2,
        ..Default::default()
    };
    let kept: Vec<String> = apply_policy(&snaps, &p, &BTreeSet::new(), t(3, 0))
        .into_keys()
        .collect();
    assert_eq!(kept, ["c", "e"]);
    let p = RetentionPolicy {
        keep_within: Some(std::time::Duration::from_secs(2 * 86_400)),
        ..Default::default()
    };
    let kept: Vec<String> = apply_policy(&snaps, &p, &BTreeSet::new(), t(3, 0))
        .into_keys()
        .collect();
    assert_eq!(kept, ["c", "d", "e"]);
}

/// Issue 13 #4: an age rule is a duration, not a number of whole days (`12h` used to keep
/// nothing by age, `36h` one day).
#[test]
fn keep_within_is_an_exact_duration() {
    let now = OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap();
    let ago = |h: i64| now - time::Duration::hours(h);
    let snaps = vec![
        ("h06".to_owned(), ago(6)),
        ("h13".to_owned(), ago(13)),
        ("h30".to_owned(), ago(30)),
        ("h37".to_owned(), ago(37)),
    ];
    let within = |h: u64| RetentionPolicy {
        keep_within: Some(std::time::Duration::from_secs(h * 3600)),
        ..Default::default()
    };
    let kept = |p: &RetentionPolicy| -> Vec<String> {
        apply_policy(&snaps, p, &BTreeSet::new(), now)
            .into_keys()
            .collect()
    };
    assert_eq!(kept(&within(12)), ["h06"]);
    assert_eq!(kept(&within(36)), ["h06", "h13", "h30"]);
    // A duration beyond the calendar keeps everything instead of panicking.
    let huge = RetentionPolicy {
        keep_within: Some(std::time::Duration::from_secs(u64::MAX)),
        ..Default::default()
    };
    assert_eq!(kept(&huge).len(), 4);
}
