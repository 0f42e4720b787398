//! Giving back the code pages a long-lived, mostly idle process touched
//! once at start-up.
//!
//! A container's monitor is the whole `wrun` binary re-run in a hidden
//! mode, and its start-up (dynamic linking, argument parsing) faults in —
//! with the kernel's fault-around, 64 KiB at a time — several megabytes of
//! code it will never run again. Those pages stay mapped, so they count in
//! the monitor's RSS for the container's whole life. Dropping the mappings
//! of the *executable, file-backed* segments with `MADV_DONTNEED` leaves the
//! pages in the page cache (shared, reclaimable) and lets the few the
//! monitor's loop uses fault back in; `MADV_RANDOM` first keeps those
//! faults from pulling their neighbours back with them. Writable or
//! relocated (RELRO) segments are never touched: dropping them would lose
//! their contents.
#![allow(unsafe_code, reason = "madvise on this process's own code mappings")]

/// Drops this process's clean, read-only file mappings (code and
/// constants) from its resident set. Returns how many bytes of mappings
/// were advised.
pub fn release_code_pages() -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut advised = 0;
    for (start, len) in clean_read_only_file_mappings(&smaps) {
        // SAFETY: the range is a whole mapping of this process, not
        // writable, backed by a file, with no copied-on-write page (so not
        // a relocated RELRO segment): its pages equal the file's
        // contents, dropping them loses nothing, and the next access (even
        // to the code now running) faults them back in from the page
        // cache. madvise does not touch memory we hold references into.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_RANDOM);
            if libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0 {
                advised += len;
            }
        }
    }
    advised
}

/// `(start, length)` of each mapping in `smaps` that is private, not
/// writable, backed by a file, and has no anonymous (copied-on-write) page.
/// Not `Private_Dirty`: a file page recently written to disk is dirty in
/// the page cache without differing from the file.
fn clean_read_only_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            let perms = fields.next().unwrap_or("");
            let inode = fields.nth(2).unwrap_or("0");
            let eligible = (perms == "r-xp" || perms == "r--p") && inode != "0";
            current = eligible.then_some((start, end - start));
            continue;
        }
        if first == "Anonymous:"
            && let Some(range) = current.take()
            && fields.next() == Some("0")
        {
            out.push(range);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    #[test]
    fn only_clean_read_only_file_mappings_qualify() {
        let smaps = "\
1000-3000 r-xp 00000000 fd:01 42 /bin/x
Anonymous:             0 kB
3000-4000 r--p 00002000 fd:01 42 /bin/x
Anonymous:             4 kB
4000-5000 rw-p 00003000 fd:01 42 /bin/x
Anonymous:             0 kB
5000-6000 r--p 00000000 00:00 0 [anon]
Anonymous:             0 kB
6000-8000 r--p 00004000 fd:01 42 /bin/x
Anonymous:             0 kB
";
        assert_eq!(
            clean_read_only_file_mappings(smaps),
            [(0x1000, 0x2000), (0x6000, 0x2000)]
        );
    }

    #[test]
    fn code_pages_leave_the_resident_set_and_code_still_runs() {
        let before = rss_kib();
        assert!(release_code_pages() > 0);
        let after = rss_kib();
        assert!(after < before, "RssFile {before} KiB -> {after} KiB");
        // Code and libc keep working after their pages were dropped.
        let v: Vec<String> = (0..100).map(|i| format!("{i}")).collect();
        assert_eq!(v.join(",").len(), 289);
    }
}
