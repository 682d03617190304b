use super::*;
use coalition_schemas::v1;

fn idem(speed: f64, heading: f64) -> bool {
    let t = v1::TrackV1 { speed_mps: speed, heading_deg: heading, ..Default::default() };
    let (a, _) = track_v1_to_v2(&t).unwrap();
    let (b, _) = track_v2_to_v1(&a).unwrap();
    let (c, _) = track_v1_to_v2(&b).unwrap();
    a == c
}

#[test]
fn explore() {
    let mut rng = 12345u64;
    let mut next = || { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; (rng >> 11) as f64 / (1u64 << 53) as f64 };
    for axis in [0.0f64, 90.0, 180.0, 270.0, 360.0] {
        for exp in -14..=0 {
            let mut fails = 0;
            let n = 20000;
            for _ in 0..n {
                let off = 10f64.powf(exp as f64 + next()) * if next() < 0.5 { -1.0 } else { 1.0 };
                let speed = 1.0 + next() * 5000.0;
                if !idem(speed, axis + off) { fails += 1; }
            }
            if fails > 0 { println!("axis {axis} offset 1e{exp}..1e{}: {fails}/{n}", exp+1); }
        }
    }
    let mut fails = 0;
    for _ in 0..1_000_000 { if !idem(next()*5000.0, next()*360.0) { fails += 1; } }
    println!("uniform fails {fails}");
}

#[test]
fn explore_v2() {
    let mut rng = 999u64;
    let mut next = || { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; (rng >> 11) as f64 / (1u64 << 53) as f64 };
    for exp in -12..=0 {
        let mut fails = 0; let n = 20000;
        for _ in 0..n {
            let big = (1.0 + next()*5000.0) as f32 * if next()<0.5 {-1.0} else {1.0};
            let small = big * (10f64.powf(exp as f64 + next())) as f32 * if next()<0.5 {-1.0} else {1.0};
            let (n2, e2) = if next() < 0.5 { (big, small) } else { (small, big) };
            let t = v1::TrackV2 { velocity_north_mps: n2, velocity_east_mps: e2, ..Default::default() };
            let (a, _) = track_v2_to_v1(&t).unwrap();
            let (b, _) = track_v1_to_v2(&a).unwrap();
            if b != t { fails += 1; }
        }
        println!("v2 ratio 1e{exp}: {fails}/{n}");
    }
}
