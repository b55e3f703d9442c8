//! Writes splicer-sys/src/bindings.rs (or the path given) from the vendored
//! header.  Run through splicer-sys/regen-bindings.sh.

include!("../../../splicer-sys/bindgen-config.rs");

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../splicer-sys/src/bindings.rs").into());
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../../splicer-sys/vendor/include/splicer.h");
    let bindings = splicer_bindgen(header)
        .generate()
        .expect("bindgen failed: is libclang installed (apt-get install libclang-dev)?");
    bindings.write_to_file(&out).expect("cannot write the bindings");
}
