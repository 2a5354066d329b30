//! Travel arithmetic (known distances, uncertainty, verdicts) and the offline travel pass.

use crate::*;
use ward_risk::geo::{Position, country_position, great_circle_km};

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn great_circle_distances_match_known_values() {
    let d = |a: Place, b: Place| great_circle_km((a.lat, a.lon), (b.lat, b.lon));
    assert!(close(d(LONDON, NEW_YORK), 5_570.0, 10.0), "{}", d(LONDON, NEW_YORK));
    assert!(close(d(LONDON, PARIS), 344.0, 5.0), "{}", d(LONDON, PARIS));
    assert!(close(d(LONDON, SYDNEY), 16_994.0, 20.0), "{}", d(LONDON, SYDNEY));
    assert!(close(d(TOKYO, SYDNEY), 7_820.0, 30.0), "{}", d(TOKYO, SYDNEY));
    assert_eq!(d(LONDON, LONDON), 0.0);
    assert_eq!(d(NEW_YORK, LONDON), d(LONDON, NEW_YORK));
    // Antipodes and across the date line.
    assert!(close(great_circle_km((0.0, 0.0), (0.0, 180.0)), std::f64::consts::PI * geo::EARTH_RADIUS_KM, 0.001));
    assert!(close(great_circle_km((0.0, 179.5), (0.0, -179.5)), 111.2, 0.5));
}

#[test]
fn uncertainty_is_taken_off_the_distance_and_never_makes_it_negative() {
    let a = Position::new(LONDON.lat, LONDON.lon, 100.0).unwrap();
    let b = Position::new(NEW_YORK.lat, NEW_YORK.lon, 200.0).unwrap();
    assert!(close(a.least_distance_km(&b), 5_270.0, 10.0));
    let wide = Position::new(PARIS.lat, PARIS.lon, 400.0).unwrap();
    assert_eq!(a.least_distance_km(&wide), 0.0);
    assert!(Position::new(91.0, 0.0, 1.0).is_none());
    assert!(Position::new(0.0, f64::NAN, 1.0).is_none());
    assert!(Position::new(0.0, 0.0, -1.0).is_none());
}

#[test]
fn verdicts_follow_the_speed_thresholds_in_either_order() {
    let s = TravelSettings::default();
    let point = |p: Place, t: OffsetDateTime| Waypoint { at: t, position: Position::new(p.lat, p.lon, 0.0).unwrap() };
    let t0 = at("2024-06-01T00:00:00Z");
    let j = judge_travel(&point(LONDON, t0), &point(NEW_YORK, t0 + Duration::hours(1)), &s);
    assert_eq!(j.verdict, TravelVerdict::Impossible);
    assert!(close(j.speed_kmh, 5_570.0, 10.0));
    assert_eq!(judge_travel(&point(NEW_YORK, t0 + Duration::hours(1)), &point(LONDON, t0), &s), j, "order does not matter");
    assert_eq!(judge_travel(&point(LONDON, t0), &point(NEW_YORK, t0 + Duration::hours(4)), &s).verdict, TravelVerdict::Unlikely);
    assert_eq!(judge_travel(&point(LONDON, t0), &point(NEW_YORK, t0 + Duration::hours(7)), &s).verdict, TravelVerdict::Plausible);
    // Simultaneous sign-ins count as a minute apart: a finite, impossible speed.
    let same = judge_travel(&point(LONDON, t0), &point(NEW_YORK, t0), &s);
    assert_eq!(same.verdict, TravelVerdict::Impossible);
    assert!(same.speed_kmh.is_finite());
    // Near is never judged, however quick.
    assert_eq!(judge_travel(&point(LONDON, t0), &point(PARIS, t0), &s).verdict, TravelVerdict::Plausible);
}

#[test]
fn country_positions_cover_their_territory_and_only_slow_travel_down() {
    let gb = country_position("gb").unwrap();
    for city in [LONDON, MANCHESTER] {
        assert!(great_circle_km((gb.latitude, gb.longitude), (city.lat, city.lon)) < gb.uncertainty_km);
    }
    let au = country_position("AU").unwrap();
    let us = country_position("US").unwrap();
    for (lat, lon) in [(-33.87, 151.21), (-31.95, 115.86), (-12.46, 130.84), (-42.88, 147.33)] {
        assert!(great_circle_km((au.latitude, au.longitude), (lat, lon)) < au.uncertainty_km, "({lat}, {lon})");
    }
    for (lat, lon) in [(40.71, -74.0), (47.61, -122.33), (25.76, -80.19), (34.05, -118.24), (44.8, -68.77)] {
        assert!(great_circle_km((us.latitude, us.longitude), (lat, lon)) < us.uncertainty_km, "({lat}, {lon})");
    }
    // The country fallback's distance is a lower bound of the real one.
    let real = great_circle_km((LONDON.lat, LONDON.lon), (SYDNEY.lat, SYDNEY.lon));
    assert!(gb.least_distance_km(&au) <= real);
}

#[test]
fn the_offline_pass_finds_the_same_trips_and_reports_them_offline() {
    let who = user(2);
    let t0 = at("2024-05-01T08:00:00Z");
    let mut history: Vec<SignInFacts> = (0..12).map(|d| sign_in(who, LONDON, t0 + Duration::days(d))).collect();
    let last = t0 + Duration::days(11);
    history.push(sign_in(who, NEW_YORK, last + Duration::hours(1)));
    // Then real trips: London to Tokyo in 15 hours (637 km/h), Tokyo to Sydney in 10 (782 km/h).
    history.push(sign_in(who, TOKYO, last + Duration::hours(15)));
    history.push(sign_in(who, SYDNEY, last + Duration::hours(25)));
    history.reverse(); // any order
    let now = at("2024-06-01T00:00:00Z");
    let found = detect_travel(&SignInProfile::default(), &history, &Settings::default(), now);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!((d.event_type.as_str(), d.level, d.timing), ("impossibleTravel", RiskLevel::High, DetectionTiming::Offline));
    assert_eq!((d.activity_at, d.detected_at), (last + Duration::hours(1), now));
    assert_eq!(d.user, who);
}

#[test]
fn the_offline_pass_learns_like_the_real_time_one() {
    let who = user(2);
    let t0 = at("2024-05-01T08:00:00Z");
    let history = vec![sign_in(who, LONDON, t0), sign_in(who, NEW_YORK, t0 + Duration::hours(1))];
    assert!(detect_travel(&SignInProfile::default(), &history, &Settings::default(), t0).is_empty(), "day one is learning");
    // Known for a month: judged.
    let known = SignInProfile { first_sign_in_at: Some(t0 - Duration::days(30)), ..SignInProfile::default() };
    assert_eq!(detect_travel(&known, &history, &Settings::default(), t0).len(), 1);
}
