// Builds or finds libsplicer.
//
// By default the C core vendored in vendor/ is compiled with the cc crate and
// linked statically, so a user needs only rustc and a C compiler.  With
// SPLICER_NO_VENDOR set, a system libsplicer is linked instead, found by
// pkg-config (the distribution's package, or one installed from the repo).

use std::env;
use std::path::PathBuf;

#[cfg(feature = "bindgen")]
include!("bindgen-config.rs");

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let vendor = manifest.join("vendor");
    println!("cargo:rerun-if-env-changed=SPLICER_NO_VENDOR");
    println!("cargo:rerun-if-changed=vendor");

    let include = if env::var_os("SPLICER_NO_VENDOR").is_some() {
        let lib = pkg_config::Config::new()
            .range_version("0.1.0".."1.0.0")
            .probe("splicer")
            .expect("SPLICER_NO_VENDOR is set but pkg-config cannot find splicer >= 0.1, < 1.0");
        lib.include_paths
            .iter()
            .map(|p| p.join("splicer.h"))
            .find(|h| h.exists())
            .map(|h| h.parent().unwrap().to_path_buf())
            .unwrap_or_else(|| vendor.join("include"))
    } else {
        let mut build = cc::Build::new();
        build
            .include(vendor.join("include"))
            .include(vendor.join("src"))
            // splice(2), tee(2), vmsplice(2) are declared by glibc only
            // under _GNU_SOURCE.
            .define("_GNU_SOURCE", None)
            // Linked into a Rust binary: no shared-library symbol table to
            // shape.
            .define("SPLICER_NO_VISIBILITY", None)
            .flag_if_supported("-std=gnu11")
            .warnings(false);
        let mut sources: Vec<PathBuf> = std::fs::read_dir(vendor.join("src"))
            .expect("vendor/src is missing: run scripts/sync in the repository")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "c"))
            .collect();
        sources.sort();
        build.files(&sources);
        build.compile("splicer");
        println!("cargo:root={}", env::var("OUT_DIR").unwrap());
        vendor.join("include")
    };
    println!("cargo:include={}", include.display());

    #[cfg(feature = "bindgen")]
    {
        let header = include.join("splicer.h");
        let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("bindings.rs");
        splicer_bindgen(header.to_str().expect("non-UTF-8 include path"))
            .generate()
            .expect("bindgen failed: is libclang installed?")
            .write_to_file(out)
            .expect("cannot write bindings.rs");
    }
}
