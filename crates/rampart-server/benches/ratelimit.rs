//! Rate-limit decision cost: `cargo bench -p rampart-server --bench ratelimit`.
//!
//! Measures decisions per second of the in-memory store on one hot key and spread over
//! 100,000 keys, and — when `RAMPART_BENCH_REDIS_URL` points at a Redis on this machine — the
//! Redis store, with the round trips per decision read from Redis's `INFO commandstats`.
//! Every loop is bounded in count; traffic goes only to the given (loopback) Redis.

// A benchmark's output is its result.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use rampart_core::ratelimit::{Limit, MemoryLimiter, SystemClock};
use rampart_server::limits::RedisLimiter;

const MEMORY_DECISIONS: u32 = 2_000_000;
const REDIS_DECISIONS: u32 = 20_000;

fn report(name: &str, decisions: u32, seconds: f64) {
    let per_sec = f64::from(decisions) / seconds;
    let ns = seconds * 1e9 / f64::from(decisions);
    println!("{name:<34} {decisions:>9} decisions  {per_sec:>12.0} /s  {ns:>9.0} ns/decision");
}

fn memory(name: &str, keys: u32) {
    let limiter = MemoryLimiter::new(200_000, Arc::new(SystemClock::new()));
    let limit = Limit {
        max: 100,
        window_ms: 60_000,
    };
    let names: Vec<String> = (0..keys)
        .map(|i| format!("ip:10.0.{}.{}", i / 256, i % 256))
        .collect();
    let start = Instant::now();
    for i in 0..MEMORY_DECISIONS {
        let key = &names[(i % keys) as usize];
        std::hint::black_box(limiter.decide("bench", key, limit));
    }
    report(name, MEMORY_DECISIONS, start.elapsed().as_secs_f64());
}

/// Script calls (`EVALSHA` and `EVAL`) the server has executed, from `INFO commandstats`: a
/// decision is one round trip exactly when each costs one script call and nothing else.
async fn script_calls(url: &str) -> Option<u64> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .ok()?;
    let calls = |cmd: &str| {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(calls("evalsha") + calls("eval"))
}

async fn redis_store(url: &str) {
    let Ok(limiter) = RedisLimiter::connect(url).await else {
        println!("redis store: cannot connect to RAMPART_BENCH_REDIS_URL");
        return;
    };
    let limit = Limit {
        max: 100,
        window_ms: 60_000,
    };
    // Warm the script cache so EVALSHA is what is measured.
    let _ = limiter.decide("bench-warm", "k", limit).await;
    let before = script_calls(url).await.unwrap_or(0);
    let start = Instant::now();
    for i in 0..REDIS_DECISIONS {
        let key = format!("ip:10.1.{}.{}", (i % 1000) / 256, i % 256);
        std::hint::black_box(limiter.decide("bench", &key, limit).await.ok());
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = script_calls(url).await.unwrap_or(0);
    report("redis store (1,000 keys)", REDIS_DECISIONS, seconds);
    println!(
        "redis round trips per decision (EVALSHA/EVAL calls): {:.2}",
        (after.saturating_sub(before)) as f64 / f64::from(REDIS_DECISIONS)
    );
}

fn main() {
    println!("rate-limit decisions (release build recommended: cargo bench)");
    memory("memory store, 1 hot key", 1);
    memory("memory store, 100,000 keys", 100_000);
    match std::env::var("RAMPART_BENCH_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => rt.block_on(redis_store(&url)),
                Err(e) => println!("redis store: no runtime: {e}"),
            }
        }
        _ => {
            println!("redis store: set RAMPART_BENCH_REDIS_URL=redis://127.0.0.1:PORT/ to measure")
        }
    }
}
