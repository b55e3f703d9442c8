/work/main/bench/peers/rustcopy/target/release/deps/rustcopy-98c767d05e88013d.d: src/main.rs

/work/main/bench/peers/rustcopy/target/release/deps/rustcopy-98c767d05e88013d: src/main.rs

src/main.rs:
