//! Rebuilds the kernel object when bpf-linker changes (it is the linker, invisible to cargo).
fn main() {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join("bpf-linker")).find(|p| p.is_file())
    });
    match found {
        Some(path) => println!("cargo:rerun-if-changed={}", path.display()),
        None => println!("cargo:warning=bpf-linker not found; run `cargo xtask setup`"),
    }
}
