//! A newc ("070701") cpio writer: the microVM's initramfs is made from the
//! same rootfs the containers run, without needing the `cpio` tool.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Append one entry: header, name, data, each padded to 4 bytes.
fn entry(
    out: &mut impl Write,
    ino: u32,
    name: &str,
    mode: u32,
    rdev: (u32, u32),
    data: &[u8],
) -> io::Result<()> {
    let namesize = name.len() + 1;
    let header = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
        0,
        0,
        1,
        0,
        data.len(),
        0,
        0,
        rdev.0,
        rdev.1,
        0
    );
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    let pad = |n: usize| (4 - n % 4) % 4;
    out.write_all(&[0u8; 3][..pad(110 + namesize)])?;
    out.write_all(data)?;
    out.write_all(&[0u8; 3][..pad(data.len())])?;
    Ok(())
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Write the tree under `root` (files, directories, symlinks; other kinds
/// skipped) plus `/dev/console`, which the kernel opens for init's stdio.
pub fn write_tree(root: &Path, out: &mut impl Write) -> io::Result<()> {
    let mut ino = 1u32;
    let mut stack = vec![(root.to_path_buf(), String::from("."))];
    let mut have_dev = false;
    while let Some((path, name)) = stack.pop() {
        let meta = fs::symlink_metadata(&path)?;
        let perm = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        ino += 1;
        if ft.is_dir() {
            entry(out, ino, &name, S_IFDIR | perm, (0, 0), &[])?;
            if name == "./dev" {
                have_dev = true;
            }
            let mut children: Vec<_> = fs::read_dir(&path)?.collect::<Result<_, _>>()?;
            children.sort_by_key(|e| e.file_name());
            for c in children.into_iter().rev() {
                let child_name = format!("{name}/{}", c.file_name().to_string_lossy());
                stack.push((c.path(), child_name));
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&path)?;
            entry(
                out,
                ino,
                &name,
                S_IFLNK | 0o777,
                (0, 0),
                target.to_string_lossy().as_bytes(),
            )?;
        } else if ft.is_file() {
            let data = fs::read(&path)?;
            entry(out, ino, &name, S_IFREG | perm, (0, 0), &data)?;
        } else {
            // Device nodes and sockets in the rootfs are not needed by the
            // workloads; the rdev of a host node would be meaningless anyway.
            let _ = meta.rdev();
        }
    }
    if !have_dev {
        ino += 1;
        entry(out, ino, "./dev", S_IFDIR | 0o755, (0, 0), &[])?;
    }
    ino += 1;
    entry(out, ino, "./dev/console", S_IFCHR | 0o600, (5, 1), &[])?;
    entry(out, 0, "TRAILER!!!", 0, (0, 0), &[])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_padded_to_four_bytes() {
        let mut out = Vec::new();
        entry(&mut out, 2, "./a", S_IFREG | 0o644, (0, 0), b"hello").expect("write");
        // 110-byte header + "./a\0" = 114 → 116; 5 bytes of data → 8.
        assert_eq!(out.len(), 116 + 8);
        assert!(out.starts_with(b"070701"));
        assert_eq!(&out[116..121], b"hello");
    }

    #[test]
    fn tree_has_console_and_trailer() {
        let dir = std::env::temp_dir().join(format!("wrun-bench-cpio-{}", std::process::id()));
        fs::create_dir_all(dir.join("bin")).expect("mkdir");
        fs::write(dir.join("bin/x"), b"data").expect("write");
        std::os::unix::fs::symlink("x", dir.join("bin/y")).expect("symlink");
        let mut out = Vec::new();
        write_tree(&dir, &mut out).expect("cpio");
        fs::remove_dir_all(&dir).expect("cleanup");
        let text = String::from_utf8_lossy(&out);
        for name in ["./bin/x", "./bin/y", "./dev/console", "TRAILER!!!"] {
            assert!(text.contains(name), "{name} missing");
        }
        assert_eq!(out.len() % 4, 0);
    }
}
