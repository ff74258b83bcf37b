//! Link ct-exec with packed relative relocations (`DT_RELR`, glibc >= 2.36): a PIE binary's
//! ~13 000 pointer fix-ups shrink from a 320 KiB `.rela.dyn` table, read at every start, to a
//! few KiB of bitmap. Starting containers is ct-exec's hot path, and those pages count in its
//! memory footprint. Only for the binary, only where the linker knows the flag.
//!
//! Built for musl (how `make` installs it, see the Makefile), ct-exec links Debian's
//! `libseccomp.a`, compiled against glibc with `_FORTIFY_SOURCE`: its text export calls
//! glibc's `__fprintf_chk`, which musl lacks. A four-line C shim supplies it (`fprintf`
//! without the check; C, because Rust cannot define a variadic function).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && matches!(
            std::env::var("CARGO_CFG_TARGET_ENV").as_deref(),
            Ok("gnu" | "musl")
        )
        && linker_knows_relr()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    if std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl") {
        fortify_shim();
    }
}

/// `fortify_shim.o` with `__fprintf_chk` for a musl link of glibc-built `libseccomp.a`.
fn fortify_shim() {
    let dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = dir.join("fortify_shim.c");
    let obj = dir.join("fortify_shim.o");
    std::fs::write(
        &src,
        "typedef struct _IO_FILE FILE;\n\
         int vfprintf(FILE *, const char *, __builtin_va_list);\n\
         int __fprintf_chk(FILE *f, int flag, const char *fmt, ...) {\n\
         \t__builtin_va_list ap; __builtin_va_start(ap, fmt);\n\
         \tint r = vfprintf(f, fmt, ap); __builtin_va_end(ap); return r; }\n",
    )
    .expect("write fortify_shim.c");
    let run = |cmd: &mut std::process::Command| {
        let ok = cmd.status().is_ok_and(|s| s.success());
        assert!(ok, "build.rs: {cmd:?} failed");
    };
    run(std::process::Command::new("cc")
        .args(["-c", "-O2", "-fPIC", "-o"])
        .arg(&obj)
        .arg(&src));
    // An object (not an archive) on the binary's link line: linked whatever the order of the
    // archives that need it.
    println!("cargo:rustc-link-arg-bins={}", obj.display());
}

/// Does `cc -Wl,-z,pack-relative-relocs` link a trivial program here?
fn linker_knows_relr() -> bool {
    let Ok(dir) = std::env::var("OUT_DIR") else {
        return false;
    };
    let src = std::path::Path::new(&dir).join("relr.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    std::process::Command::new("cc")
        .arg("-Wl,-z,pack-relative-relocs")
        .arg(&src)
        .arg("-o")
        .arg(std::path::Path::new(&dir).join("relr"))
        .output()
        .is_ok_and(|o| o.status.success())
}
