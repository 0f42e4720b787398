//! One policy decision through a reused instance: the cost the supervisor
//! pays per trapped call on top of the trap itself. Measured with fuel (the
//! default bound) and with an epoch deadline (the cheaper bound), on the
//! `read-only` built-in deciding a write under `/tmp` (the longest path
//! through that policy).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wrun_policy::{Limits, Op, PolicyEngine, Request, TimeBound};

fn bench(c: &mut Criterion) {
    let req = Request {
        flags: 2,
        ..Request::path(Op::Open, b"/tmp/some/file.txt")
    };
    let mut g = c.benchmark_group("decide");
    for (name, time) in [
        ("fuel", TimeBound::Fuel(wrun_policy::DEFAULT_FUEL)),
        ("epoch", TimeBound::Epoch(Duration::from_millis(10))),
    ] {
        let engine = PolicyEngine::with_limits(Limits {
            time,
            ..Limits::default()
        })
        .expect("engine");
        let mut inst = engine
            .builtin("read-only")
            .expect("read-only")
            .instantiate()
            .expect("instance");
        assert!(inst.decide(&req).is_allow());
        g.bench_function(name, |b| b.iter(|| inst.decide(black_box(&req))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
