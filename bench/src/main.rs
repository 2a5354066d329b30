//! `ward-bench`: Ward's benchmarks. Each prints its figures beside the limit or target it is
//! measured against, from the same run. Run in release mode:
//!
//! ```text
//! cargo run --release -p ward-bench -- membership
//! npm ci --prefix bench/peers/oidc-provider     # the peer of `tokens` (Node.js ≥ 20)
//! cargo build --release -p ward -p ward-bench && taskset -c 1 target/release/ward-bench tokens
//! taskset -c 1 target/release/ward-bench directory [--users 1000000]
//! taskset -c 1 target/release/ward-bench signin
//! taskset -c 1 target/release/ward-bench policy [--policies 200] [--ranges 2000]
//! taskset -c 1 target/release/ward-bench risk [--users 10000] [--sign-ins 1000000]
//! ```

mod directory;
mod membership;
mod policy;
mod risk;
mod scim;
mod signin;
mod tokens;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().cloned().unwrap_or_else(|| "membership".into());
    let rest = args.get(1..).unwrap_or_default();
    if which == "raw-sign" {
        // Internal: run by `tokens` under `taskset -c 0` to measure raw signing on the servers' core.
        return tokens::raw_sign_main(rest);
    }
    if which == "raw-argon2" {
        // Internal: run by `signin` under `taskset -c 0`.
        return signin::raw_argon2_main(rest);
    }
    if which == "policy" {
        // Pure computation on this thread: no runtime.
        return policy::run(rest);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a runtime");
    match which.as_str() {
        "membership" => runtime.block_on(membership::run()),
        "tokens" => runtime.block_on(tokens::run(rest)),
        "directory" => runtime.block_on(directory::run(rest)),
        "signin" => runtime.block_on(signin::run(rest)),
        "scim" => runtime.block_on(scim::run(rest)),
        "risk" => runtime.block_on(risk::run(rest)),
        other => {
            eprintln!("unknown benchmark '{other}'; available: membership, tokens, directory, signin, scim, policy, risk");
            std::process::exit(2);
        }
    }
}

/// Median and 99th percentile of a set of durations, in microseconds.
pub fn summarize(mut samples: Vec<std::time::Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}
