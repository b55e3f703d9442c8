/work/main/bench/peers/rustcopy/target/release/rustcopy: /work/main/bench/peers/rustcopy/src/main.rs
