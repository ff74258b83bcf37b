//! Link ct-exec with packed relative relocations (`DT_RELR`, glibc >= 2.36): a PIE binary's
//! ~13 000 pointer fix-ups shrink from a 320 KiB `.rela.dyn` table, read at every start, to a
//! few KiB of bitmap. Starting containers is ct-exec's hot path, and those pages count in its
//! memory footprint. Only for the binary, only where the linker knows the flag.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
        && linker_knows_relr()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
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
