//! Helpers that engines share. Not part of the boundary: plain Rust that
//! saves engine authors from writing the same careful code again.

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

/// Writes `bytes` to `dir/name` so that a crash at any moment leaves either
/// the old file or the new one, never a mix: through a synced temporary
/// file and a rename, then a sync of the directory so the rename is durable.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

/// The numbers WhatsApp may know `phone` (digits, country code first)
/// under, the given one first. Brazilian mobile numbers gained a 9th digit
/// in 2012, but accounts registered before then are still known without
/// it, so for them both forms are returned.
pub fn whatsapp_variants(phone: &str) -> Vec<String> {
    let mut variants = vec![phone.to_owned()];
    if let Some(national) = phone.strip_prefix("55") {
        let (area, subscriber) = national.split_at(national.len().min(2));
        match subscriber.len() {
            9 if subscriber.starts_with('9') => {
                variants.push(format!("55{area}{}", &subscriber[1..]))
            }
            8 => variants.push(format!("55{area}9{subscriber}")),
            _ => {}
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brazilian_mobiles_are_tried_with_and_without_the_ninth_digit() {
        assert_eq!(
            whatsapp_variants("5511987654321"),
            ["5511987654321", "551187654321"]
        );
        assert_eq!(
            whatsapp_variants("551187654321"),
            ["551187654321", "5511987654321"]
        );
        assert_eq!(whatsapp_variants("14155550100"), ["14155550100"]);
        // A Brazilian landline (8 digits not after a 9) has one form.
        assert_eq!(whatsapp_variants("55113456789"), ["55113456789"]);
    }

    #[test]
    fn atomic_writes_replace_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("wharf-support-{}", std::process::id()));
        write_atomically(&dir, "f.json", b"one").unwrap();
        write_atomically(&dir, "f.json", b"two").unwrap();
        assert_eq!(fs::read(dir.join("f.json")).unwrap(), b"two");
        assert!(!dir.join(".f.json.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
