//! One shared [`Name`] per distinct field name a reader meets, so the fields of every event
//! after the first reuse their names instead of allocating each one again.
//!
//! Events of one source mostly repeat the previous event's names in the same order, so each
//! name is first compared with the one at the same position in the previous event; only when
//! that differs is it hashed and looked up.
//!
//! The text of the first names met is kept for the life of the program, shared by every reader
//! (up to [`MAX_PROGRAM_NAME_BYTES`]): such a [`Name`] is a `&'static str`, which costs nothing
//! to copy or drop, where a shared `Arc<str>` costs two atomic operations per field and event.
//! Names met after that budget is spent are `Arc<str>`s, kept per reader.

use nativeguard_event::Name;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, Mutex};

/// How many distinct names a reader keeps. Input with endless distinct keys (adversarial, or
/// keys that carry data) empties the set when it is full, so its memory stays bounded; the
/// names already handed out stay valid.
pub(crate) const MAX_INTERNED_NAMES: usize = 65_536;

/// Names longer than this are not kept (each use allocates its own): real field names are
/// short, and the limit bounds the set's memory to about `MAX_INTERNED_NAMES` x this.
pub(crate) const MAX_INTERNED_NAME_BYTES: usize = 64;

/// How many bytes of name text are kept for the life of the program, for all readers together.
/// Real logs have a few hundred distinct names (tens of KiB); input with endless distinct keys
/// spends this once, then its names are reference-counted and freed with their events.
pub(crate) const MAX_PROGRAM_NAME_BYTES: usize = 1024 * 1024;

/// The names kept for the life of the program, and the bytes of text they hold.
type ProgramNames = (HashSet<&'static str, BuildHasherDefault<NameHasher>>, usize);

static PROGRAM_NAMES: LazyLock<Mutex<ProgramNames>> = LazyLock::new(Mutex::default);

/// `text` as a name that lives for the whole program, while [`MAX_PROGRAM_NAME_BYTES`] allow.
fn program_name(text: &str) -> Option<Name> {
    // A poisoned lock only means another thread panicked between two plain updates.
    let mut guard = PROGRAM_NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (names, bytes) = &mut *guard;
    if let Some(&kept) = names.get(text) {
        return Some(Name::from_static(kept));
    }
    if *bytes + text.len() > MAX_PROGRAM_NAME_BYTES {
        return None;
    }
    *bytes += text.len();
    let kept: &'static str = Box::leak(Box::from(text));
    names.insert(kept);
    Some(Name::from_static(kept))
}

/// How many names of one event are remembered in order (to predict the next event's).
const MAX_REMEMBERED_POSITIONS: usize = 1024;

/// Stands for a name that was not kept, in [`Names::previous`] and [`Names::current`].
const NOT_KEPT: u32 = u32::MAX;

/// A bounded set of field names.
#[derive(Default, Clone)]
pub(crate) struct Names {
    /// Every name kept; a name's id is its index.
    list: Vec<Name>,
    ids: HashMap<Name, u32, BuildHasherDefault<NameHasher>>,
    /// The ids of the previous event's names, in the order they were asked for.
    previous: Vec<u32>,
    /// The ids of the current event's names so far.
    current: Vec<u32>,
    /// Where [`Names::get_joined`] builds its name, kept to be reused.
    scratch: String,
}

impl Names {
    /// Starts a new event: its names are predicted from the one before.
    pub(crate) fn start_event(&mut self) {
        std::mem::swap(&mut self.previous, &mut self.current);
        self.current.clear();
    }

    /// Starts the current event over (its text is being decoded again).
    pub(crate) fn restart_event(&mut self) {
        self.current.clear();
    }

    /// The shared name for `text`, kept for next time when it is short enough.
    #[inline]
    pub(crate) fn get(&mut self, text: &str) -> Name {
        let position = self.current.len();
        if let Some(&id) = self.previous.get(position) {
            if let Some(name) = self.list.get(id as usize) {
                if name.as_str() == text {
                    self.current.push(id);
                    return name.clone();
                }
            }
        }
        self.get_unpredicted(text, position)
    }

    /// [`Names::get`] for a name the previous event did not have at this position.
    #[inline(never)]
    fn get_unpredicted(&mut self, text: &str, position: usize) -> Name {
        let (name, id) = self.look_up(text);
        if position < MAX_REMEMBERED_POSITIONS {
            self.current.push(id);
        }
        name
    }

    /// The name and its id ([`NOT_KEPT`] for a name too long to keep), by hash.
    fn look_up(&mut self, text: &str) -> (Name, u32) {
        if let Some(&id) = self.ids.get(text) {
            if let Some(name) = self.list.get(id as usize) {
                return (name.clone(), id);
            }
        }
        if text.len() > MAX_INTERNED_NAME_BYTES {
            return (Name::from(text), NOT_KEPT);
        }
        let name = program_name(text).unwrap_or_else(|| Name::from(text));
        if self.list.len() >= MAX_INTERNED_NAMES {
            // Ids from before are void: forget the predictions that use them too.
            self.list.clear();
            self.ids.clear();
            self.previous.clear();
            self.current.clear();
        }
        // Below MAX_INTERNED_NAMES, which fits in u32 with NOT_KEPT to spare.
        let id = self.list.len() as u32;
        self.list.push(name.clone());
        self.ids.insert(name.clone(), id);
        (name, id)
    }

    /// The shared name `<first>_<second>`, built without a temporary allocation.
    pub(crate) fn get_joined(&mut self, first: &str, second: &str) -> Name {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.push_str(first);
        scratch.push('_');
        scratch.push_str(second);
        let name = self.get(&scratch);
        self.scratch = scratch;
        name
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.list.len()
    }
}

/// A fast, non-cryptographic hash for short names (8 bytes per multiply). Not resistant to
/// chosen collisions, which the set's bound keeps harmless: a flood of colliding names costs
/// time proportional to the names kept, at most [`MAX_INTERNED_NAMES`].
#[derive(Default)]
struct NameHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_share_one_allocation() {
        let mut names = Names::default();
        let first = names.get("CommandLine");
        let again = names.get("CommandLine");
        assert!(std::ptr::eq(first.as_str(), again.as_str()));
        assert_eq!(&*names.get("Image"), "Image");
        let joined = names.get_joined("Provider", "Name");
        assert_eq!(&*joined, "Provider_Name");
        assert!(std::ptr::eq(
            joined.as_str(),
            names.get("Provider_Name").as_str()
        ));
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn predictions_from_the_previous_event_only_serve_equal_names() {
        let mut names = Names::default();
        names.start_event();
        let first: Vec<Name> = ["EventID", "Image", "User"]
            .iter()
            .map(|text| names.get(text))
            .collect();
        names.start_event();
        // Same first name, a different second one, then the old third at a new position.
        let second: Vec<Name> = ["EventID", "CommandLine", "Image", "User"]
            .iter()
            .map(|text| names.get(text))
            .collect();
        let texts: Vec<&str> = second.iter().map(Name::as_str).collect();
        assert_eq!(texts, ["EventID", "CommandLine", "Image", "User"]);
        assert!(std::ptr::eq(first[0].as_str(), second[0].as_str()));
        assert!(std::ptr::eq(first[1].as_str(), second[2].as_str()));
        assert!(std::ptr::eq(first[2].as_str(), second[3].as_str()));
        names.start_event();
        assert_eq!(
            &*names.get("CommandLine"),
            "CommandLine",
            "prediction was EventID"
        );
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn the_set_empties_when_full_and_old_names_stay_valid() {
        let mut names = Names::default();
        let kept = names.get("k0");
        for i in 1..MAX_INTERNED_NAMES {
            names.get(&format!("k{i}"));
        }
        assert_eq!(names.len(), MAX_INTERNED_NAMES);
        let past = names.get("one more");
        assert_eq!(names.len(), 1, "emptied, then the new name kept");
        assert_eq!(&*kept, "k0");
        assert_eq!(&*past, "one more");
        // No prediction survives the emptying.
        names.start_event();
        assert_eq!(&*names.get("k1"), "k1");
        assert_eq!(&*names.get("k0"), "k0");
    }

    #[test]
    fn program_names_are_shared_by_readers_up_to_their_budget() {
        let text = "a name only this test uses";
        let first = Names::default().get(text);
        let second = Names::default().get(text);
        assert!(std::ptr::eq(first.as_str(), second.as_str()));
        // Past the budget names are still right, only no longer kept for the program.
        let long = "z".repeat(MAX_INTERNED_NAME_BYTES);
        let mut names = Names::default();
        for i in 0..=MAX_PROGRAM_NAME_BYTES / MAX_INTERNED_NAME_BYTES {
            let text = format!("{i}{}", &long[i.to_string().len()..]);
            assert_eq!(&*names.get(&text), text);
        }
        let spent = PROGRAM_NAMES.lock().map(|guard| guard.1).unwrap_or(0);
        assert!(spent <= MAX_PROGRAM_NAME_BYTES, "{spent}");
        assert!(
            spent + MAX_INTERNED_NAME_BYTES > MAX_PROGRAM_NAME_BYTES,
            "{spent}"
        );
        let unseen = "u".repeat(MAX_INTERNED_NAME_BYTES);
        assert!(program_name(&unseen).is_none());
        assert!(program_name(text).is_some(), "kept names stay");
    }

    #[test]
    fn long_names_are_not_kept() {
        let mut names = Names::default();
        let long = "x".repeat(MAX_INTERNED_NAME_BYTES + 1);
        let at_limit = "y".repeat(MAX_INTERNED_NAME_BYTES);
        assert_eq!(&*names.get(&long), long);
        assert_eq!(names.len(), 0);
        names.get(&at_limit);
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn names_differing_only_in_length_or_tail_hash_apart() {
        let hash = |text: &str| {
            let mut hasher = NameHasher::default();
            std::hash::Hash::hash(text, &mut hasher);
            hasher.finish()
        };
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash("EventData"), hash("EventDatb"));
        assert_ne!(hash("abcdefgh"), hash("abcdefghi"));
    }
}
