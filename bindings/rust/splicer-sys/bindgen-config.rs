// The one bindgen configuration, shared by build.rs (feature `bindgen`) and
// tools/regen (which writes the checked-in src/bindings.rs), so that both
// produce the same file.
//
// - Only splicer's own items: the allowlists keep libc's types out.
// - Enums become plain constants: a value the header gains later must not be
//   undefined behaviour in an older binding (a rustified enum would be).
// - struct iovec comes from the libc crate, so callers pass libc::iovec.
fn splicer_bindgen(header: &str) -> bindgen::Builder {
    bindgen::Builder::default()
        .header(header)
        .allowlist_function("splicer_.*")
        .allowlist_type("splicer_.*")
        .allowlist_var("SPLICER_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .blocklist_type("iovec")
        .raw_line("use libc::iovec;")
        .generate_comments(true)
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .clang_arg("-D_GNU_SOURCE")
}
