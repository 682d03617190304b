//! Kinematics shared by the two track versions: v1's speed and heading
//! (f64, heading 0 = north, clockwise, in degrees) and v2's north and east
//! velocity components (f32). Plain float math, no validation: callers
//! pass finite values ([`super::transcode`] checks them first).

/// `heading` (any finite degrees) in [0, 360); `-0.0` becomes `0.0`.
pub(super) fn normalize_heading(heading: f64) -> f64 {
    let h = heading.rem_euclid(360.0);
    // rem_euclid may round up to exactly 360 for tiny negative inputs.
    if h >= 360.0 {
        0.0
    } else {
        h + 0.0
    }
}

/// A finite, non-negative speed and a finite heading (any value, taken
/// modulo 360) into north and east components; `None` when a component
/// overflows f32. Never a negative zero.
pub(super) fn velocity_from_course(speed: f64, heading: f64) -> Option<(f32, f32)> {
    let (sin, cos) = sin_cos_degrees(normalize_heading(heading));
    // `+ 0.0` turns a negative zero into zero.
    let north = (speed * cos) as f32 + 0.0;
    let east = (speed * sin) as f32 + 0.0;
    (north.is_finite() && east.is_finite()).then_some((north, east))
}

/// Sine and cosine of `heading` in [0, 360) degrees, reduced to an angle of
/// at most 45° from an axis first (exactly: each subtraction is exact by
/// Sterbenz's lemma), so the four axes give exact zeros and ones.
fn sin_cos_degrees(heading: f64) -> (f64, f64) {
    let (quadrant, r) = if heading < 90.0 {
        (0, heading)
    } else if heading < 180.0 {
        (1, heading - 90.0)
    } else if heading < 270.0 {
        (2, heading - 180.0)
    } else {
        (3, heading - 270.0)
    };
    let (s, c) = if r > 45.0 {
        let (s, c) = (90.0 - r).to_radians().sin_cos();
        (c, s)
    } else {
        r.to_radians().sin_cos()
    };
    match quadrant {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// North and east components (finite) into speed and heading in [0, 360)
/// that convert back to exactly these components whenever such a pair is
/// found near the direct estimate (see [`exact_course_near`]). A
/// stationary track gets heading 0.
pub(super) fn course_from_velocity(north: f32, east: f32) -> (f64, f64) {
    let estimate = course_estimate(f64::from(north), f64::from(east));
    if velocity_from_course(estimate.0, estimate.1) == Some((north, east)) {
        return estimate;
    }
    exact_course_near(north, east, estimate.1).unwrap_or(estimate)
}

/// Speed and heading measured from the nearest axis, so a component of
/// zero gives an exact multiple of 90°.
fn course_estimate(north: f64, east: f64) -> (f64, f64) {
    let speed = north.hypot(east);
    if speed == 0.0 {
        return (0.0, 0.0);
    }
    let (n, e) = (north.abs(), east.abs());
    let heading = if n >= e {
        let t = (e / n).atan().to_degrees();
        match (north > 0.0, east >= 0.0) {
            (true, true) => t,
            (true, false) => 360.0 - t,
            (false, true) => 180.0 - t,
            (false, false) => 180.0 + t,
        }
    } else {
        let t = (n / e).atan().to_degrees();
        match (east > 0.0, north >= 0.0) {
            (true, true) => 90.0 - t,
            (true, false) => 90.0 + t,
            (false, true) => 270.0 + t,
            (false, false) => 270.0 - t,
        }
    };
    (speed, normalize_heading(heading))
}

/// How many representable headings either side of the estimate
/// [`exact_course_near`] tries.
const NEIGHBOURS: usize = 8;

/// Within about 1e-6° of 90°, 180°, 270° or 360°, v1's heading (an f64 in
/// [0, 360)) is too coarse to name the direction of every f32 velocity, so
/// the direct estimate may not convert back exactly. Tries the estimate and
/// the [`NEIGHBOURS`] representable headings either side, each with the
/// speed in the middle of the range that rounds back to both components.
fn exact_course_near(north: f32, east: f32, heading: f64) -> Option<(f64, f64)> {
    let (mut up, mut down) = (heading, heading);
    if let Some(speed) = speed_for(north, east, heading) {
        return Some((speed, heading));
    }
    for _ in 0..NEIGHBOURS {
        up = normalize_heading(up.next_up());
        down = normalize_heading(down.next_down());
        for h in [up, down] {
            if let Some(speed) = speed_for(north, east, h) {
                return Some((speed, h));
            }
        }
    }
    None
}

/// A speed that, with `heading`, converts to exactly (`north`, `east`).
fn speed_for(north: f32, east: f32, heading: f64) -> Option<f64> {
    let (sin, cos) = sin_cos_degrees(heading);
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for (component, factor) in [(north, cos), (east, sin)] {
        if factor == 0.0 {
            if component != 0.0 {
                return None;
            }
            continue;
        }
        let (below, above) = rounding_interval(component);
        let (a, b) = (below / factor, above / factor);
        let (a, b) = if factor < 0.0 { (b, a) } else { (a, b) };
        lo = lo.max(a);
        hi = hi.min(b);
    }
    if lo > hi || !hi.is_finite() {
        return None;
    }
    let speed = lo + (hi - lo) / 2.0;
    (velocity_from_course(speed, heading) == Some((north, east))).then_some(speed)
}

/// About the f64 values that round to `value` as an f32 (the ends are
/// approximate; [`speed_for`] checks its answer).
fn rounding_interval(value: f32) -> (f64, f64) {
    let v = f64::from(value);
    let below = (v + f64::from(value.next_down())) / 2.0;
    let above = (v + f64::from(value.next_up())) / 2.0;
    (below, above)
}
