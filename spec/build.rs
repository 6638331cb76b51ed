//! Embeds every Markdown document of the spec, so the `mailpush` binary can print the spec
//! without a checkout beside it.

use std::{env, fs, io, path::Path};

fn main() -> io::Result<()> {
    let dir = env::var("CARGO_MANIFEST_DIR").map_err(io::Error::other)?;
    let out = env::var("OUT_DIR").map_err(io::Error::other)?;
    println!("cargo:rerun-if-changed={dir}");

    let mut names: Vec<String> = fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    // The index first, then the documents in name order: a stable order keeps builds repeatable.
    names.sort_by_key(|name| (name != "README.md", name.clone()));

    let mut code = String::from("&[\n");
    for name in &names {
        println!("cargo:rerun-if-changed={dir}/{name}");
        let path = Path::new(&dir).join(name);
        code.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push(']');
    fs::write(Path::new(&out).join("embedded.rs"), code)
}
